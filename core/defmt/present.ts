/**
 * Turning decoded records into what people and scripts read: probe-rs-style text lines (with level
 * colours), user templates, env_logger-style filters, and JSON lines.
 */
import type { Arg, DefmtRecord } from './decoder';
import { LEVELS, type Level } from './table';

// ------------------------------------------------------------------------------------- filters

export interface LogFilter {
  /** Level for records whose module matches no directive; null = off. */
  defaultLevel: Level | null;
  /** Longest module prefix wins. */
  directives: { module: string; level: Level | null }[];
  /** env_logger's `/REGEX` suffix: only messages it matches pass. */
  message?: RegExp;
}

export class FilterError extends Error {}

/**
 * env_logger syntax: comma-separated `LEVEL` or `MODULE=LEVEL` (`off` silences). "info,app::net=trace"
 * shows info and above everywhere, and everything from app::net and its submodules. As in
 * env_logger, everything after the first '/' is a regular expression the message must match
 * ("info/tick \d+").
 */
export function parseFilter(filterText: string): LogFilter {
  const slash = filterText.indexOf('/');
  const text = slash < 0 ? filterText : filterText.slice(0, slash);
  const filter: LogFilter = { defaultLevel: 'trace', directives: [] };
  if (slash >= 0) {
    try {
      filter.message = new RegExp(filterText.slice(slash + 1));
    } catch (err) {
      throw new FilterError(`invalid regular expression "${filterText.slice(slash + 1)}" in filter "${filterText}": ${(err as Error).message}`);
    }
  }
  const level = (s: string): Level | null => {
    const l = s.trim().toLowerCase();
    if (l === 'off') return null;
    if ((LEVELS as readonly string[]).includes(l)) return l as Level;
    throw new FilterError(`unknown log level "${s}" in filter "${filterText}" (use trace, debug, info, warn, error or off)`);
  };
  let sawDefault = false;
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      // A bare word is a level if it names one, else a module shown at every level.
      if ((LEVELS as readonly string[]).includes(part.toLowerCase()) || part.toLowerCase() === 'off') {
        filter.defaultLevel = level(part);
        sawDefault = true;
      } else filter.directives.push({ module: part, level: 'trace' });
    } else {
      filter.directives.push({ module: part.slice(0, eq).trim(), level: level(part.slice(eq + 1)) });
    }
  }
  // Only module directives: like env_logger, everything else is off.
  if (!sawDefault && filter.directives.length) filter.defaultLevel = null;
  filter.directives.sort((a, b) => b.module.length - a.module.length);
  return filter;
}

export function passes(filter: LogFilter, record: { level?: Level; location?: { module: string }; message?: string }): boolean {
  if (filter.message && !filter.message.test(record.message ?? '')) return false;
  if (!record.level) return true; // println!-style records have no level: always shown
  const module = record.location?.module ?? '';
  let threshold: Level | null = filter.defaultLevel;
  for (const d of filter.directives) {
    if (module === d.module || module.startsWith(d.module + '::')) {
      threshold = d.level;
      break;
    }
  }
  return threshold !== null && LEVELS.indexOf(record.level) >= LEVELS.indexOf(threshold);
}

// ----------------------------------------------------------------------------------------- text

const COLOURS: Record<Level, string> = { trace: '\x1b[2m', debug: '\x1b[37m', info: '\x1b[32m', warn: '\x1b[33m', error: '\x1b[31m' };
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

export interface TextOptions {
  /** A template with {t} {L} {s} {m} {F} {f} {l} (or {timestamp} {level} {message} {module} {file} {line}); default probe-rs's. */
  format?: string;
  colour?: boolean;
  location?: boolean;
  timestamps?: boolean;
}

const ALIASES: Record<string, string> = { timestamp: 't', level: 'L', message: 's', module: 'm', file: 'F', filename: 'f', line: 'l' };

/** One record as text (one or two lines, no trailing newline). */
export function formatRecord(record: DefmtRecord, options: TextOptions = {}): string {
  const colour = options.colour ?? false;
  const paint = (code: string, s: string) => (colour && s ? `${code}${s}${RESET}` : s);
  const level = record.level ? record.level.toUpperCase().padEnd(5) : '';
  if (!options.format) {
    const parts: string[] = [];
    if (options.timestamps !== false && record.timestamp !== undefined) parts.push(record.timestamp);
    if (level) parts.push(paint(COLOURS[record.level!], level));
    parts.push(record.message);
    let text = parts.join(' ');
    if (options.location !== false && record.location) {
      const l = record.location;
      text += '\n' + paint(DIM, `└─ ${l.module} @ ${l.file}:${l.line}`);
    }
    return text;
  }
  return options.format.replace(/\{(\w+)\}/g, (whole, key: string) => {
    const k = ALIASES[key] ?? key;
    const l = record.location;
    switch (k) {
      case 't':
        return options.timestamps === false ? '' : (record.timestamp ?? '');
      case 'L':
        return level ? paint(COLOURS[record.level!], level) : '';
      case 's':
        return record.message;
      case 'm':
        return options.location === false ? '' : (l?.module ?? '');
      case 'F':
        return options.location === false ? '' : (l?.file ?? '');
      case 'f':
        return options.location === false ? '' : (l?.file.split('/').pop() ?? '');
      case 'l':
        return options.location === false ? '' : l ? String(l.line) : '';
      default:
        return whole;
    }
  });
}

/** Checks a template before a run starts, so a typo is an error and not silent output. */
export function checkTemplate(format: string): void {
  for (const m of format.matchAll(/\{(\w+)\}/g)) {
    const k = ALIASES[m[1]] ?? m[1];
    if (!['t', 'L', 's', 'm', 'F', 'f', 'l'].includes(k)) {
      throw new FilterError(`unknown placeholder {${m[1]}} in --log-format (use {t} {L} {s} {m} {F} {f} {l} or {timestamp} {level} {message} {module} {file} {filename} {line})`);
    }
  }
}

// ----------------------------------------------------------------------------------------- JSON

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** Argument values for machines: integers beyond 2^53 become decimal strings. */
export function argToJson(arg: Arg): JsonValue {
  switch (arg.t) {
    case 'u':
    case 'i':
      return typeof arg.v === 'number' ? arg.v : Number.isSafeInteger(Number(arg.v)) ? Number(arg.v) : arg.v.toString();
    case 'f':
      return Number.isFinite(arg.v) ? arg.v : String(arg.v);
    case 'bool':
      return arg.v;
    case 'str':
    case 'char':
      return arg.v;
    case 'bytes':
      return Array.from(arg.v);
    case 'format':
      return { format: arg.format, args: arg.args.map(argToJson) };
    case 'slice':
      return arg.elements.map((e) => ({ format: e.format, args: e.args.map(argToJson) }));
    case 'seq':
      return arg.items.map((e) => ({ format: e.format, args: e.args.map(argToJson) }));
  }
}

export function recordToJson(record: DefmtRecord, channel: number): string {
  return JSON.stringify({
    channel,
    level: record.level ?? null,
    timestamp: record.timestamp ?? null,
    message: record.message,
    args: record.args.map(argToJson),
    location: record.location ?? null,
    index: record.index,
  });
}
