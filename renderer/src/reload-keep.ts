/**
 * What a page reload must not lose, kept in the tab's sessionStorage (gone when the tab closes):
 * the console history (bounded), the chosen firmware file (bounded), and the board this tab was
 * connected to with `dapdeck serve`'s reattach key, so the reloaded page takes over the same running
 * board (the server holds it for its grace period) and keeps streaming from it.
 *
 * sessionStorage holds strings and Chromium allows 10 MiB (UTF-16) per origin: the history is kept
 * to HISTORY_CHARS characters and the firmware to FIRMWARE_BYTES (base64), 2·(2 M + 1.5 M·4/3) ≈ 8 MB.
 * Storage full or off is not an error: keeping is a convenience, the live session is unaffected.
 */
import { NOTE_CHANNEL, type LogLine } from './device/protocol';

const HISTORY_KEY = 'dapdeck.console';
const BOARD_KEY = 'dapdeck.board';
const FIRMWARE_KEY = 'dapdeck.firmware';
export const HISTORY_LINES = 5000;
export const HISTORY_CHARS = 2_000_000;
export const FIRMWARE_BYTES = 1_500_000;

function put(key: string, value: string | null): boolean {
  try {
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, value);
    return true;
  } catch {
    return false;
  }
}

function get<T>(key: string): T | null {
  try {
    const text = sessionStorage.getItem(key);
    return text === null ? null : (JSON.parse(text) as T);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- console history

/**
 * The lines kept before the reload, then a note saying so. The worker numbers its lines from 0 again,
 * so the kept ones are numbered below 0 (in order): they sort before every new line.
 */
export function restoreHistory(): LogLine[] {
  const kept = get<LogLine[]>(HISTORY_KEY);
  if (!Array.isArray(kept) || kept.length === 0) return [];
  const restored = kept.map((l, i) => ({ ...l, seq: i - kept.length - 1 }));
  restored.push({ seq: -1, channel: NOTE_CHANNEL, level: null, timestamp: null, message: `restored ${kept.length} line${kept.length === 1 ? '' : 's'} from before the page was reloaded`, location: null, module: null });
  return restored;
}

/** The newest lines within both bounds, serialized (at most HISTORY_LINES, at most HISTORY_CHARS). */
export function historyText(all: readonly LogLine[]): string {
  const parts: string[] = [];
  let chars = 2;
  for (let i = all.length - 1; i >= 0 && parts.length < HISTORY_LINES; i--) {
    const part = JSON.stringify(all[i]);
    if (chars + part.length + 1 > HISTORY_CHARS) break;
    parts.push(part);
    chars += part.length + 1;
  }
  return `[${parts.reverse().join(',')}]`;
}

let historyTimer: ReturnType<typeof setTimeout> | null = null;
let historySource: readonly LogLine[] | null = null;

/** Keep the history within a second (lines arrive in bursts: one write per second at most). */
export function saveHistorySoon(all: readonly LogLine[]): void {
  historySource = all;
  historyTimer ??= setTimeout(saveHistoryNow, 1000);
}

/** Keep it now (the page is being hidden or unloaded: the timer would not run). */
export function saveHistoryNow(): void {
  if (historyTimer) clearTimeout(historyTimer);
  historyTimer = null;
  if (historySource) put(HISTORY_KEY, historyText(historySource));
}

// ---------------------------------------------------------------- the board and its firmware

export interface KeptBoard {
  /** The probe socket's URL as first opened (without `resume`). */
  url: string;
  /** The server's reattach key for that board (null until the server gave one). */
  key: string | null;
  /** The file whose RTT was streaming from the board, if any (streamed again after the reload). */
  streaming: string | null;
  /** What the page showed for it (restored into the fields). */
  selector: string;
  server: string;
  chip: string;
}

export function keptBoard(): KeptBoard | null {
  const b = get<KeptBoard>(BOARD_KEY);
  return b && typeof b.url === 'string' ? b : null;
}

export function keepBoard(board: KeptBoard | null): void {
  put(BOARD_KEY, board && JSON.stringify(board));
}

export function updateBoard(change: Partial<KeptBoard>): void {
  const b = keptBoard();
  if (b) keepBoard({ ...b, ...change });
}

/** The chosen firmware file, if it was small enough to keep. */
export function keptFirmware(): File | null {
  const f = get<{ name: string; base64: string }>(FIRMWARE_KEY);
  if (!f || typeof f.base64 !== 'string') return null;
  try {
    const binary = atob(f.base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return new File([bytes], f.name);
  } catch {
    return null;
  }
}

/** Keep the chosen file (or forget it); false when it is too large or storage refused it. */
export async function keepFirmware(file: File | null): Promise<boolean> {
  if (!file || file.size > FIRMWARE_BYTES) {
    put(FIRMWARE_KEY, null);
    return !file;
  }
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  if (put(FIRMWARE_KEY, JSON.stringify({ name: file.name, base64: btoa(binary) }))) return true;
  put(FIRMWARE_KEY, null);
  return false;
}
