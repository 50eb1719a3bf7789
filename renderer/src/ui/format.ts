/** How a log line looks in the terminal (ANSI colours by level, dim timestamp and location). */
import type { LogLine } from '../device/protocol';

export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export const LEVELS: Level[] = ['trace', 'debug', 'info', 'warn', 'error'];
export const COLOUR: Record<Level, string> = { trace: '\x1b[90m', debug: '\x1b[37m', info: '\x1b[32m', warn: '\x1b[33m', error: '\x1b[31m' };

export function formatLine(l: LogLine, showLocation: boolean): string {
  if (l.channel < 0) return `\x1b[36m(${l.message})\x1b[0m`;
  if (!l.level) return `${l.channel > 0 ? `\x1b[90m[${l.channel}]\x1b[0m ` : ''}${l.message}`;
  const level = `${COLOUR[l.level]}${l.level.toUpperCase().padEnd(5)}\x1b[0m`;
  const where = showLocation && l.location ? `  \x1b[90m${l.module ?? ''} @ ${l.location}\x1b[0m` : '';
  return `${l.timestamp ? `\x1b[90m${l.timestamp}\x1b[0m ` : ''}${level} ${l.message}${where}`;
}

