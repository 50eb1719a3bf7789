/**
 * Electron main process. The window is locked down — context isolation, sandbox, no Node in the
 * renderer, a strict CSP (sent by the app's own loopback server with every response) — and loads
 * the same web app `dapdeck serve` serves, from a loopback server started here with a random
 * token. Device pickers are the app's own (Chromium's select-*-device events are answered by the
 * renderer through validated IPC); permissions allow CMSIS-DAP probes and picked ports only.
 */
import { app, BrowserWindow, dialog, ipcMain, session } from 'electron';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { serve, type RunningServer } from '../serve/server';
import { installPermissionHandlers, isCmsisDap } from './permissions';
import { registerIpc } from './ipc';
import { SerialService } from './serial';
import { SerialPort } from 'serialport';

export const WINDOW_WEB_PREFERENCES = {
  contextIsolation: true,
  sandbox: true,
  nodeIntegration: false,
  nodeIntegrationInWorker: false,
  webSecurity: true,
  allowRunningInsecureContent: false,
  webviewTag: false,
} as const;

let server: RunningServer | null = null;
let window: BrowserWindow | null = null;
const pickedPorts = new Set<string>();
const pendingPicks = new Map<number, (deviceId: string | null) => void>();
let nextRequest = 0;
const origin = () => (server ? new URL(server.url).origin : 'http://127.0.0.1');

export function createWindow(url: string): BrowserWindow {
  const w = new BrowserWindow({
    width: 1280,
    height: 800,
    title: 'Dapdeck',
    backgroundColor: '#0d1014',
    webPreferences: { ...WINDOW_WEB_PREFERENCES, preload: join(__dirname, '../preload/index.js') },
  });
  // No navigation away from the app, no new windows.
  w.webContents.on('will-navigate', (e, target) => {
    if (!target.startsWith(origin())) e.preventDefault();
  });
  w.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  w.webContents.session.on('select-usb-device', (event, details, callback) => {
    event.preventDefault();
    askRenderer('usb', details.deviceList.filter(isCmsisDap).map((d) => ({ id: d.deviceId, name: d.productName ?? 'USB device' })), callback);
  });
  w.webContents.session.on('select-hid-device', (event, details, callback) => {
    event.preventDefault();
    askRenderer('hid', details.deviceList.filter((d) => isCmsisDap(d)).map((d) => ({ id: d.deviceId, name: d.name })), callback);
  });
  w.webContents.session.on('select-serial-port', (event, portList, _wc, callback) => {
    event.preventDefault();
    askRenderer('serial', portList.map((p) => ({ id: p.portId, name: p.displayName ?? p.portName })), (id) => {
      if (id) pickedPorts.add(id);
      callback(id ?? '');
    });
  });
  void w.loadURL(url);
  return w;
}

function askRenderer(kind: string, devices: { id: string; name: string }[], callback: (id: string) => void): void {
  const requestId = nextRequest++;
  pendingPicks.set(requestId, (id) => callback(id ?? ''));
  window?.webContents.send('dapdeck:device-request', { requestId, kind, devices });
}

async function start(): Promise<void> {
  server = await serve({ port: 0, token: randomBytes(16).toString('hex'), webRoot: join(__dirname, '../renderer') });
  installPermissionHandlers(session.defaultSession, origin, pickedPorts);
  const logDir = join(app.getPath('userData'), 'logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `session-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
  const serial = new SerialService(SerialPort, (event) => window?.webContents.send('dapdeck:serial-event', event));
  app.on('before-quit', () => void serial.closeAll());
  registerIpc(ipcMain, origin, {
    'dapdeck:serial-list': () => serial.list(),
    'dapdeck:serial-open': (p: { path: string; baudRate: number }) => serial.open(p.path, p.baudRate),
    'dapdeck:serial-write': (p: { id: number; data: Uint8Array }) => serial.write(p.id, p.data),
    'dapdeck:serial-close': (p: { id: number }) => serial.close(p.id),
    'dapdeck:save-log': async (p: { suggestedName?: string; text: string }) => {
      const r = await dialog.showSaveDialog({ defaultPath: p.suggestedName ?? 'dapdeck-log.txt' });
      if (r.canceled || !r.filePath) return null;
      writeFileSync(r.filePath, p.text);
      return basename(r.filePath);
    },
    'dapdeck:log-append': (p: { lines: string[] }) => appendFileSync(logFile, p.lines.map((l) => l + '\n').join('')),
    'dapdeck:open-firmware': async () => {
      const r = await dialog.showOpenDialog({ properties: ['openFile'], filters: [{ name: 'Firmware', extensions: ['elf', 'hex', 'ihex', 'bin', '*'] }] });
      if (r.canceled || !r.filePaths[0]) return null;
      return { name: basename(r.filePaths[0]), bytes: new Uint8Array(readFileSync(r.filePaths[0])) };
    },
    'dapdeck:choose-device': (p: { requestId: number; deviceId: string | null }) => {
      pendingPicks.get(p.requestId)?.(p.deviceId);
      pendingPicks.delete(p.requestId);
    },
  });
  window = createWindow(`${server.url}?token=${server.token}`);
}

if (process.versions.electron) {
  app.whenReady().then(start, (err) => {
    dialog.showErrorBox('Dapdeck', String(err));
    app.quit();
  });
  app.on('window-all-closed', () => {
    void server?.close();
    if (process.platform !== 'darwin') app.quit();
  });
}
