/** How a log line looks in the terminal (ANSI colours by level, dim timestamp and location). */
import { ECHO_CHANNEL, STOP_CHANNEL, type LogLine } from '../device/protocol';

export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export const LEVELS: Level[] = ['trace', 'debug', 'info', 'warn', 'error'];
export const COLOUR: Record<Level, string> = { trace: '\x1b[90m', debug: '\x1b[37m', info: '\x1b[32m', warn: '\x1b[33m', error: '\x1b[31m' };

/**
 * One record as terminal text. Given the terminal's width, a location that would push the line
 * past it is shortened to `file.rs:line` (module and directories dropped), so lines do not wrap
 * in the middle of a path; the message itself is never cut.
 */
export function formatLine(l: LogLine, showLocation: boolean, cols = Infinity): string {
  if (l.channel === ECHO_CHANNEL) return `\x1b[35m${l.message}\x1b[0m`;
  if (l.channel === STOP_CHANNEL) return `\x1b[31m${l.message}\x1b[0m`;
  if (l.channel < 0) return `\x1b[36m(${l.message})\x1b[0m`;
  if (!l.level) return `${l.channel > 0 ? `\x1b[90m[${l.channel}]\x1b[0m ` : ''}${l.message}`;
  const level = `${COLOUR[l.level]}${l.level.toUpperCase().padEnd(5)}\x1b[0m`;
  const head = `${l.timestamp ? `${l.timestamp} ` : ''}${l.level.padEnd(5)} ${l.message}`;
  let where = '';
  if (showLocation && l.location) {
    const full = `${l.module ?? ''} @ ${l.location}`;
    const short = l.location.slice(l.location.lastIndexOf('/') + 1);
    where = `  \x1b[90m${head.length + 2 + full.length <= cols ? full : short}\x1b[0m`;
  }
  return `${l.timestamp ? `\x1b[90m${l.timestamp}\x1b[0m ` : ''}${level} ${l.message}${where}`;
}

