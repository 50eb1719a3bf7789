// The renderer as a web page (`npm run web`, served by `dapdeck serve`): same code as the Electron
// renderer; the device worker reaches probes through the WebSocket probe server or WebUSB.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  root: resolve(import.meta.dirname, 'renderer'),
  base: './',
  plugins: [react()],
  worker: { format: 'es' },
  build: {
    outDir: resolve(import.meta.dirname, 'out/web'),
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    // bench.html: the browser benchmarks (npm run bench opens it in Chromium).
    rollupOptions: { input: { index: resolve(import.meta.dirname, 'renderer/index.html'), bench: resolve(import.meta.dirname, 'renderer/bench.html') } },
  },
});
