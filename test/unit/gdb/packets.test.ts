/** RSP framing against the GDB manual (appendix E.1): checksums, acks, the interrupt byte, escapes. */
import { describe, expect, it } from 'vitest';
import { RspFramer, framePacket, fromLatin1, latin1, unescapeBinary } from '../../../core/gdb/packets';

const text = (b: Uint8Array) => fromLatin1(b);

describe('RSP framing', () => {
  it('reads packets with their modulo-256 checksum, split anywhere, between acks and Ctrl-C', () => {
    const framer = new RspFramer();
    // "$OK#9a": 'O' (0x4f) + 'K' (0x4b) = 0x9a; "qSupported" sums to 0x37 (as GDB sends it).
    const events = [...framer.push(latin1('+$O')), ...framer.push(latin1('K#9')), ...framer.push(latin1('a\x03$qSupported#37-'))];
    expect(events.map((e) => (e.kind === 'packet' ? `packet ${text(e.payload)}` : e.kind))).toEqual(['ack', 'packet OK', 'interrupt', 'packet qSupported', 'nack']);
  });

  it('reports a wrong checksum instead of a packet', () => {
    const [event] = new RspFramer().push(latin1('$OK#00'));
    expect(event.kind).toBe('bad-checksum');
  });

  it('escapes $ # } and * in replies as } followed by the byte XOR 0x20, checksummed after escaping', () => {
    expect(text(framePacket('OK'))).toBe('$OK#9a');
    const framed = text(framePacket('a#b$c}d*'));
    expect(framed.slice(0, -3)).toBe('$a}\x03b}\x04c}]d}\x0a');
    const body = latin1(framed.slice(1, -3));
    const sum = body.reduce((s, b) => (s + b) & 0xff, 0);
    expect(framed.slice(-2)).toBe(sum.toString(16).padStart(2, '0'));
    // Escaped binary (X, vFlashWrite) comes back byte for byte.
    expect([...unescapeBinary(latin1('a}\x03b}]'))]).toEqual([0x61, 0x23, 0x62, 0x7d]);
  });
});
