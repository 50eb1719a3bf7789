/** Reading one RTT up channel's text through the same batched session the product uses. */
import type { RttSession } from '../../core/rtt/session';

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
