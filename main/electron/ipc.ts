/**
 * The IPC surface between the renderer (through preload) and the main process: every channel is
 * listed here with a validator; anything unknown or malformed is refused before a handler runs.
 * The renderer never touches the file system: files come and go through these calls.
 */

export class IpcValidationError extends Error {}

type Validator = (payload: unknown) => void;

const MAX_LOG_BYTES = 64 * 1024 * 1024;

function object(payload: unknown, keys: string[]): Record<string, unknown> {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new IpcValidationError('payload must be an object');
  const extra = Object.keys(payload).filter((k) => !keys.includes(k));
  if (extra.length) throw new IpcValidationError(`unexpected field(s): ${extra.join(', ')}`);
  return payload as Record<string, unknown>;
}

export const CHANNELS: Record<string, Validator> = {
  /** Save text (a console log) where the user chooses. */
  'dapdeck:save-log': (p) => {
    const o = object(p, ['suggestedName', 'text']);
    if (typeof o.text !== 'string') throw new IpcValidationError('text must be a string');
    if (o.text.length > MAX_LOG_BYTES) throw new IpcValidationError(`text longer than ${MAX_LOG_BYTES} characters`);
    if (o.suggestedName !== undefined && (typeof o.suggestedName !== 'string' || !/^[\w.-]{1,100}$/.test(o.suggestedName))) {
      throw new IpcValidationError('suggestedName must be a plain file name');
    }
  },
  /** Append records to the session's log file (main owns the file): one line each, in batches. */
  'dapdeck:log-append': (p) => {
    const o = object(p, ['lines']);
    if (!Array.isArray(o.lines) || o.lines.length > 10_000) throw new IpcValidationError('lines must be an array of at most 10000 lines');
    for (const line of o.lines) {
      if (typeof line !== 'string' || line.length > 1_000_000 || line.includes('\n')) throw new IpcValidationError('each entry of lines must be one line of text');
    }
  },
  /** Ask the user for a firmware image; returns its name and bytes. */
  'dapdeck:open-firmware': (p) => {
    if (p !== undefined && p !== null) throw new IpcValidationError('takes no payload');
  },
  'dapdeck:serial-list': (p) => {
    if (p !== undefined && p !== null) throw new IpcValidationError('takes no payload');
  },
  'dapdeck:serial-open': (p) => {
    const o = object(p, ['path', 'baudRate']);
    if (typeof o.path !== 'string' || o.path.length === 0 || o.path.length > 256) throw new IpcValidationError('path must be a port path');
    if (typeof o.baudRate !== 'number' || !Number.isInteger(o.baudRate) || o.baudRate < 50 || o.baudRate > 20_000_000) throw new IpcValidationError('baudRate must be an integer from 50 to 20000000');
  },
  'dapdeck:serial-write': (p) => {
    const o = object(p, ['id', 'data']);
    if (typeof o.id !== 'number' || !Number.isInteger(o.id)) throw new IpcValidationError('id must be an integer');
    if (!(o.data instanceof Uint8Array) || o.data.length > 65536) throw new IpcValidationError('data must be bytes (at most 64 KiB)');
  },
  'dapdeck:serial-close': (p) => {
    const o = object(p, ['id']);
    if (typeof o.id !== 'number' || !Number.isInteger(o.id)) throw new IpcValidationError('id must be an integer');
  },
  /** The app's own picker answered a device request from Chromium (WebUSB/WebHID/Web Serial). */
  'dapdeck:choose-device': (p) => {
    const o = object(p, ['requestId', 'deviceId']);
    if (typeof o.requestId !== 'number' || !Number.isInteger(o.requestId) || o.requestId < 0) throw new IpcValidationError('requestId must be a non-negative integer');
    if (o.deviceId !== null && (typeof o.deviceId !== 'string' || o.deviceId.length > 200)) throw new IpcValidationError('deviceId must be a string or null');
  },
};

/** Throws IpcValidationError unless `channel` is known and `payload` fits it. */
export function validate(channel: string, payload: unknown): void {
  const v = CHANNELS[channel];
  if (!v) throw new IpcValidationError(`unknown IPC channel "${channel}"`);
  v(payload);
}

export interface IpcMainLike {
  handle(channel: string, listener: (event: { senderFrame?: { url: string } | null }, payload: unknown) => unknown): void;
}

/**
 * Register handlers, each behind validation and a sender check: only the app's own page (its
 * origin) may call them.
 */
export function registerIpc(ipc: IpcMainLike, appOrigin: () => string, handlers: Partial<Record<keyof typeof CHANNELS, (payload: never) => unknown>>): void {
  for (const channel of Object.keys(CHANNELS)) {
    const handler = handlers[channel];
    if (!handler) continue;
    ipc.handle(channel, async (event, payload) => {
      const url = event.senderFrame?.url ?? '';
      if (!url.startsWith(appOrigin())) throw new IpcValidationError(`IPC from ${url || 'an unknown frame'} refused`);
      validate(channel, payload);
      return (handler as (p: unknown) => unknown)(payload);
    });
  }
}
