/**
 * The Electron main process with the `electron` module stubbed: window security settings, device
 * permission handlers, IPC validation and sender checks.
 */
import { describe, expect, it, vi } from 'vitest';

const windows: { options: Record<string, unknown>; handlers: Record<string, (...a: unknown[]) => void>; loaded?: string; openHandler?: () => unknown }[] = [];

vi.mock('electron', () => {
  class BrowserWindow {
    webContents: Record<string, unknown>;
    constructor(readonly options: Record<string, unknown>) {
      const entry = { options, handlers: {} as Record<string, (...a: unknown[]) => void>, loaded: undefined as string | undefined, openHandler: undefined as (() => unknown) | undefined };
      windows.push(entry);
      const on = (name: string, fn: (...a: unknown[]) => void) => (entry.handlers[name] = fn);
      this.webContents = { on, session: { on }, setWindowOpenHandler: (fn: () => unknown) => (entry.openHandler = fn), send: () => undefined };
    }
    loadURL(url: string) {
      windows[windows.length - 1].loaded = url;
      return Promise.resolve();
    }
  }
  return { app: { whenReady: () => new Promise(() => undefined), on: () => undefined, getPath: () => '/tmp' }, BrowserWindow, dialog: {}, ipcMain: { handle: () => undefined }, session: {} };
});

describe('Electron main process', () => {
  it('creates a locked-down window that cannot navigate away or open windows', async () => {
    const { createWindow, WINDOW_WEB_PREFERENCES } = await import('../../../main/electron/index');
    createWindow('http://127.0.0.1:1234/?token=t');
    const w = windows[0];
    const prefs = w.options.webPreferences as Record<string, unknown>;
    expect(prefs).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInWorker: false, webSecurity: true, webviewTag: false });
    expect(WINDOW_WEB_PREFERENCES.nodeIntegration).toBe(false);
    expect(String(prefs.preload)).toMatch(/preload[/\\]index\.js$/);
    expect(w.loaded).toBe('http://127.0.0.1:1234/?token=t');
    expect(w.openHandler?.()).toEqual({ action: 'deny' });
    const prevented = vi.fn();
    w.handlers['will-navigate']({ preventDefault: prevented }, 'https://example.com/');
    expect(prevented).toHaveBeenCalled();
    // The app's own device picker answers Chromium's chooser events.
    for (const e of ['select-usb-device', 'select-hid-device', 'select-serial-port']) expect(w.handlers[e]).toBeTypeOf('function');
  });

  it('allows CMSIS-DAP probes and picked serial ports only, for the app origin only', async () => {
    const { installPermissionHandlers } = await import('../../../main/electron/permissions');
    let device: (d: { deviceType: string; origin: string; device: Record<string, unknown> }) => boolean = () => true;
    let check: (wc: unknown, p: string, o: string) => boolean = () => true;
    let request: (wc: unknown, p: string, cb: (g: boolean) => void, d: { requestingUrl?: string }) => void = () => undefined;
    installPermissionHandlers(
      { setDevicePermissionHandler: (h) => (device = h as typeof device), setPermissionCheckHandler: (h) => (check = h), setPermissionRequestHandler: (h) => (request = h) },
      () => 'http://127.0.0.1:1234',
      new Set(['port-1']),
    );
    const app = 'http://127.0.0.1:1234';
    expect(device({ deviceType: 'usb', origin: app, device: { productName: 'Dapdeck virtual CMSIS-DAP v2' } })).toBe(true);
    expect(device({ deviceType: 'usb', origin: app, device: { productName: 'USB keyboard' } })).toBe(false);
    expect(device({ deviceType: 'hid', origin: app, device: { name: 'DAPLink CMSIS-DAP' } })).toBe(true);
    expect(device({ deviceType: 'usb', origin: 'https://evil.example', device: { productName: 'CMSIS-DAP' } })).toBe(false);
    expect(device({ deviceType: 'serial', origin: app, device: { portId: 'port-1' } })).toBe(true);
    expect(device({ deviceType: 'serial', origin: app, device: { portId: 'port-2' } })).toBe(false);
    expect(check(null, 'usb', app)).toBe(true);
    expect(check(null, 'media', app)).toBe(false);
    expect(check(null, 'usb', 'https://evil.example')).toBe(false);
    const granted = vi.fn();
    request(null, 'geolocation', granted, { requestingUrl: `${app}/` });
    expect(granted).toHaveBeenCalledWith(false);
  });

  it('validates IPC payloads and refuses unknown channels and foreign senders', async () => {
    const { validate, registerIpc, IpcValidationError } = await import('../../../main/electron/ipc');
    expect(() => validate('dapdeck:save-log', { text: 'x', suggestedName: 'log.txt' })).not.toThrow();
    expect(() => validate('dapdeck:save-log', { text: 42 })).toThrow(IpcValidationError);
    expect(() => validate('dapdeck:save-log', { text: 'x', suggestedName: '../../etc/passwd' })).toThrow(/plain file name/);
    expect(() => validate('dapdeck:save-log', { text: 'x', extra: 1 })).toThrow(/unexpected field/);
    expect(() => validate('dapdeck:log-append', { lines: ['a\nb'] })).toThrow(/one line/);
    expect(() => validate('dapdeck:log-append', { lines: 'a' })).toThrow(/array/);
    expect(() => validate('dapdeck:choose-device', { requestId: -1, deviceId: null })).toThrow(/requestId/);
    expect(() => validate('dapdeck:rm-rf', {})).toThrow('unknown IPC channel "dapdeck:rm-rf"');
    const handlers = new Map<string, (e: { senderFrame?: { url: string } | null }, p: unknown) => unknown>();
    const saved: unknown[] = [];
    registerIpc({ handle: (c, fn) => handlers.set(c, fn) }, () => 'http://127.0.0.1:1234', { 'dapdeck:log-append': (p: never) => saved.push(p) });
    expect([...handlers.keys()]).toEqual(['dapdeck:log-append']);
    const h = handlers.get('dapdeck:log-append')!;
    await h({ senderFrame: { url: 'http://127.0.0.1:1234/' } }, { lines: ['ok'] });
    await expect(h({ senderFrame: { url: 'https://evil.example/' } }, { lines: ['x'] })).rejects.toThrow(/refused/);
    await expect(h({ senderFrame: { url: 'http://127.0.0.1:1234/' } }, { lines: [5] })).rejects.toThrow(IpcValidationError);
    expect(saved).toEqual([{ lines: ['ok'] }]);
  });
});
