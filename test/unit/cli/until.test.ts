/** --until ends the output at the matching line, however many lines one RTT read brought. */
import { describe, expect, it } from 'vitest';
import { Printer } from '../../../main/cli/stream';
import type { StreamEvent } from '../../../core/defmt/framing';

const record = (message: string): StreamEvent => ({ kind: 'record', record: { index: 0, level: 'info', timestamp: '0.1', message, args: [] } });

describe('--until', () => {
  it('stops defmt output at the matching record even when later ones came in the same read', () => {
    const out: string[] = [];
    const printer = new Printer({ until: '^tick 3$', location: false }, (t) => out.push(t), () => undefined);
    printer.defmt(0, ['tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5'].map(record));
    expect(printer.matched).toBe(true);
    expect(out.map((l) => l.trim())).toEqual(['0.1 INFO  tick 1', '0.1 INFO  tick 2', '0.1 INFO  tick 3']);
    printer.defmt(0, [record('tick 6')]);
    expect(out).toHaveLength(3);
  });

  it('stops text-channel output at the matching line', () => {
    const out: string[] = [];
    const printer = new Printer({ until: 'echo: ping' }, (t) => out.push(t), () => undefined);
    printer.lines(1, ['boot', 'echo: ping', 'after'], '');
    expect(out).toEqual(['boot\n', 'echo: ping\n']);
  });
});
