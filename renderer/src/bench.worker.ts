/// <reference lib="webworker" />
/** Benchmark worker: decodes like the device worker and posts terminal text batches, then null. */
import { DefmtStream } from '../../core/defmt';
import { decodeToText, table } from './bench-shared';

declare const self: DedicatedWorkerGlobalScope;

self.onmessage = (e: MessageEvent<ArrayBuffer>) => {
  const stream = new DefmtStream(table());
  const wire = new Uint8Array(e.data);
  // Post as it decodes, 16 KiB of wire at a time, so the page writes while this decodes more.
  for (let p = 0; p < wire.length; p += 16384) {
    const text = decodeToText(stream, wire.subarray(p, Math.min(wire.length, p + 16384)));
    if (text.length) self.postMessage(text.join(''));
  }
  self.postMessage(null);
};
