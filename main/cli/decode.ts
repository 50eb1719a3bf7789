/**
 * `dapdeck decode`: decode a recorded defmt stream, as defmt-print does — from a file, stdin, or a
 * TCP stream (`tcp://host:port`, e.g. a probe server or a serial bridge forwarding RTT bytes).
 */
import { createReadStream } from 'node:fs';
import { connect } from 'node:net';
import type { Readable } from 'node:stream';
import { DefmtStream, type DefmtTable } from '../../core/defmt';
import { Printer, type OutputOptions, EXIT_TIMEOUT } from './stream';
import { UsageError } from './parse';

export async function decodeInput(input: string, table: DefmtTable, options: OutputOptions): Promise<number> {
  let source: Readable;
  const tcp = /^tcp:\/\/(.+):(\d+)$/.exec(input);
  if (input === '-') source = process.stdin;
  else if (tcp) source = connect(Number(tcp[2]), tcp[1]);
  else if (/^\w+:\/\//.test(input)) throw new UsageError(`unsupported input "${input}" (use a file, - for stdin, or tcp://host:port)`);
  else source = createReadStream(input);
  const printer = new Printer({ ...options, colour: options.colour ?? (process.stdout.isTTY && !options.json) });
  const stream = new DefmtStream(table);
  await new Promise<void>((resolve, reject) => {
    source.on('data', (chunk: Buffer) => {
      printer.defmt(0, stream.push(chunk));
      if (printer.matched) {
        source.destroy();
        resolve();
      }
    });
    source.on('end', () => resolve());
    source.on('close', () => resolve());
    source.on('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot read ${input}: ${err.message}`)));
  });
  const s = stream.stats;
  if (s.malformed || s.unknownIndex || stream.pendingBytes > 0) {
    process.stderr.write(`dapdeck: ${printer.summary()}${stream.pendingBytes ? `; ${stream.pendingBytes} bytes of an unfinished frame at the end` : ''}\n`);
  }
  if (options.until && !printer.matched) return EXIT_TIMEOUT;
  return 0;
}
