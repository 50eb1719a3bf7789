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

  /** Unfinished lines (and any bytes of a cut character), per channel; the splitter starts empty. */
  flush(): [channel: number, line: string][] {
    const out: [number, string][] = [];
    for (const [channel, decoder] of this.decoders) {
      const rest = (this.partial.get(channel) ?? '') + decoder.decode();
      if (rest) out.push([channel, rest]);
    }
    this.decoders.clear();
    this.partial.clear();
    return out;
  }
}
