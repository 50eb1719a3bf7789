/**
 * Text RTT channels as lines: bytes arrive in arbitrary chunks, so a UTF-8 character or a line can
 * be cut between two polls. Each channel keeps its own streaming decoder and unfinished line.
 */
export class LineSplitter {
  private readonly decoders = new Map<number, TextDecoder>();
  private readonly partial = new Map<number, string>();

  /** The whole lines (without their '\n') completed by `data` on `channel`. */
  push(channel: number, data: Uint8Array): string[] {
    let decoder = this.decoders.get(channel);
    if (!decoder) this.decoders.set(channel, (decoder = new TextDecoder()));
    const lines = ((this.partial.get(channel) ?? '') + decoder.decode(data, { stream: true })).split('\n');
    this.partial.set(channel, lines.pop()!);
    return lines;
  }
}
