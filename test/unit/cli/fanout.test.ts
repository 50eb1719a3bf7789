/** The pieces of `run` on several probes that decide what each child gets and what the run returns. */
import { describe, expect, it } from 'vitest';
import { probeLabel, withoutPerProbeOptions, worstExitCode } from '../../../main/cli/fanout';

describe('run on several probes', () => {
  it('hands each child the arguments without the per-probe ones, in every form commander takes', () => {
    expect(withoutPerProbeOptions(['run', '--probe', 'a', '-p', 'b', '--probe=c', '-pd', '--chip', 'nRF51822_xxAA', '--log-file', 'x-{n}.log', '--log-file=y', 'app.elf'])).toEqual(['run', '--chip', 'nRF51822_xxAA', 'app.elf']);
    // After "--" everything is an argument, even if it looks like an option.
    expect(withoutPerProbeOptions(['run', '--', '--probe'])).toEqual(['run', '--', '--probe']);
  });

  it('returns the worst exit code: error, then not verified, then timed out', () => {
    expect(worstExitCode([0, 0])).toBe(0);
    expect(worstExitCode([4, 3, 0])).toBe(3);
    expect(worstExitCode([4, 1, 3])).toBe(1);
    expect(worstExitCode([0, 4])).toBe(4);
    expect(worstExitCode([0, 137])).toBe(137);
  });

  it('names log files after the probe without characters a path cannot hold', () => {
    expect(probeLabel('0d28:0204:9900000038')).toBe('0d28-0204-9900000038');
    expect(probeLabel('emu:microbit')).toBe('emu-microbit');
  });
});
