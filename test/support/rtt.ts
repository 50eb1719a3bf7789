/** Reading one RTT up channel's text through the same batched session the product uses. */
import { readFileSync } from 'node:fs';
import type { MemAp } from '../../core/arm/mem-ap';
import { loadDefmtTable } from '../../core/defmt';
import type { RttSession } from '../../core/rtt/session';
import { streamRtt } from '../../main/cli/stream';

export async function readChannelText(rtt: RttSession, channel: number, until: (text: string) => boolean, deadline: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  while (!until(text) && Date.now() < deadline) {
    const r = await rtt.poll();
    if (r.kind !== 'data') throw new Error(r.reason);
    for (const c of r.chunks) if (c.channel === channel) text += decoder.decode(c.data, { stream: true });
  }
  return text;
}

/**
 * The decoded defmt log lines a running firmware sends on RTT channel 0, read as `dapdeck run` reads
 * them (the block found by scanning `scan`), until a line matches `until` (or 30 s pass).
 */
export async function defmtLinesUntil(ap: MemAp, elf: string, scan: { start: number; size: number }, until: RegExp): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const stop = new AbortController();
  const code = await streamRtt(ap, {
    channels: [0],
    defmtChannel: 0,
    table: loadDefmtTable(readFileSync(elf), elf),
    address: undefined,
    scan: [scan],
    location: false,
    timeout: 30,
    signal: stop.signal,
    out: (text) => {
      lines.push(text.trimEnd());
      if (until.test(text.trimEnd())) stop.abort();
    },
    warn: () => undefined,
  });
  return { code, lines };
}
