// The renderer as a web page (`npm run web`, served by `dapdeck serve`): same code as the Electron
// renderer; the device worker reaches probes through the WebSocket probe server or WebUSB, or runs
// the emulated Pico itself (no server at all: any static file server can serve out/web).
import { resolve } from 'node:path';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { pageEmulatorAssets } from './main/web/page-emulator-assets';

export default defineConfig({
  root: resolve(import.meta.dirname, 'renderer'),
  base: './',
  plugins: [react(), pageEmulatorAssets()],
  // The device worker imports the page emulator's assets too (it boots the ROM, the page picks samples).
  worker: { format: 'es', plugins: () => [pageEmulatorAssets()] },
  build: {
    outDir: resolve(import.meta.dirname, 'out/web'),
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    // bench.html: the browser benchmarks (npm run bench opens it in Chromium).
    rollupOptions: { input: { index: resolve(import.meta.dirname, 'renderer/index.html'), bench: resolve(import.meta.dirname, 'renderer/bench.html') } },
  },
});
