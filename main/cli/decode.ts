/**
 * `dapdeck decode`: decode a recorded defmt stream, as defmt-print does — from a file, stdin, or a
 * TCP stream (`tcp://host:port`, e.g. a probe server or a serial bridge forwarding RTT bytes).
 */
import { createReadStream } from 'node:fs';
import { connect } from 'node:net';
import type { Readable } from 'node:stream';
import { DefmtStream, type DefmtTable } from '../../core/defmt';
import { Printer, describeFsError, type OutputOptions, EXIT_TIMEOUT } from './stream';
import { UsageError } from './parse';

export async function decodeInput(input: string, table: DefmtTable, options: OutputOptions): Promise<number> {
  const tcp = /^tcp:\/\/(.+):(\d+)$/.exec(input);
  if (!tcp && input !== '-' && /^\w+:\/\//.test(input)) throw new UsageError(`unsupported input "${input}" (use a file, - for stdin, or tcp://host:port)`);
  // The printer opens the log file: a bad log path fails here, before any input is read.
  const printer = new Printer({ ...options, colour: options.colour ?? (process.stdout.isTTY && !options.json) });
  const stream = new DefmtStream(table);
  try {
    const source: Readable = input === '-' ? process.stdin : tcp ? connect(Number(tcp[2]), tcp[1]) : createReadStream(input);
    await new Promise<void>((resolve, reject) => {
      source.on('data', (chunk: Buffer) => {
        try {
          printer.defmt(0, stream.push(chunk));
        } catch (err) {
          // E.g. the log file's disk filled up: stop reading and report it as the one error.
          source.destroy();
          reject(err as Error);
          return;
        }
        if (printer.matched) {
          source.destroy();
          resolve();
        }
      });
      source.on('end', () => resolve());
      source.on('close', () => resolve());
      source.on('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot read ${input}: ${describeFsError(err)}`)));
    });
  } finally {
    printer.close();
  }
  const s = stream.stats;
  if (s.malformed || s.unknownIndex || stream.pendingBytes > 0) {
    process.stderr.write(`dapdeck: ${printer.summary()}${stream.pendingBytes ? `; ${stream.pendingBytes} bytes of an unfinished frame at the end` : ''}\n`);
  }
  if (options.until && !printer.matched) return EXIT_TIMEOUT;
  // Bytes arrived but not one frame decoded: this is not a defmt stream of this firmware.
  if (s.frames === 0 && s.bytes > 0) {
    process.stderr.write(`dapdeck: error: no defmt frame decoded from ${s.bytes} bytes of ${input === '-' ? 'stdin' : input}: is it the defmt stream of this ELF (and its ${table.encoding} encoding)?\n`);
    return 1;
  }
  return 0;
}
