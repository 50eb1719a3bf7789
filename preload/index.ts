/** The one bridge between main and renderer: a narrow, typed API (grows with the app issue). */
import { contextBridge } from 'electron';

const api = {
  version: '0.1.0',
} as const;

export type DapdeckApi = typeof api;

contextBridge.exposeInMainWorld('dapdeck', api);
