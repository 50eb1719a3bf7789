/**
 * The one bridge between main and renderer: a narrow, typed API exposed with contextBridge. Every
 * call maps to one validated IPC channel (main/electron/ipc.ts); nothing else crosses.
 */
import { contextBridge, ipcRenderer } from 'electron';

export interface DeviceRequest {
  requestId: number;
  kind: 'usb' | 'hid' | 'serial';
  devices: { id: string; name: string }[];
}

const api = {
  version: '0.1.0',
  saveLog: (text: string, suggestedName?: string): Promise<string | null> => ipcRenderer.invoke('dapdeck:save-log', { text, suggestedName }),
  appendLog: (lines: string[]): Promise<void> => ipcRenderer.invoke('dapdeck:log-append', { lines }),
  openFirmware: (): Promise<{ name: string; bytes: Uint8Array } | null> => ipcRenderer.invoke('dapdeck:open-firmware'),
  chooseDevice: (requestId: number, deviceId: string | null): Promise<void> => ipcRenderer.invoke('dapdeck:choose-device', { requestId, deviceId }),
  serial: {
    list: (): Promise<{ path: string; description: string }[]> => ipcRenderer.invoke('dapdeck:serial-list'),
    open: (path: string, baudRate: number): Promise<number> => ipcRenderer.invoke('dapdeck:serial-open', { path, baudRate }),
    write: (id: number, data: Uint8Array): Promise<void> => ipcRenderer.invoke('dapdeck:serial-write', { id, data }),
    close: (id: number): Promise<void> => ipcRenderer.invoke('dapdeck:serial-close', { id }),
    onEvent: (listener: (event: { id: number; data?: Uint8Array; closed?: boolean; error?: string }) => void): (() => void) => {
      const wrapped = (_e: unknown, event: { id: number; data?: Uint8Array; closed?: boolean; error?: string }) => listener(event);
      ipcRenderer.on('dapdeck:serial-event', wrapped);
      return () => ipcRenderer.removeListener('dapdeck:serial-event', wrapped);
    },
  },
  onDeviceRequest: (listener: (request: DeviceRequest) => void): (() => void) => {
    const wrapped = (_e: unknown, request: DeviceRequest) => listener(request);
    ipcRenderer.on('dapdeck:device-request', wrapped);
    return () => ipcRenderer.removeListener('dapdeck:device-request', wrapped);
  },
} as const;

export type DapdeckApi = typeof api;

contextBridge.exposeInMainWorld('dapdeck', api);
