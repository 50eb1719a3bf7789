/** The tasks sample's SystemView trace against the firmware's own books (its "trace stopped" counters). */
import { expect } from 'vitest';

export interface TraceLane {
  lane: string;
  kind: string;
  activations: number;
  meanLatencySeconds: number;
}

/** The counters (systick=…, timer0=…, blink=…, dropped=…, packets=…) of the "trace stopped" record in `trace record --json` output. */
export function firmwareBooks(lines: { message?: unknown }[]): Record<string, number> {
  const stopped = lines.find((l) => typeof l.message === 'string' && l.message.startsWith('trace stopped'));
  expect(stopped).toBeDefined();
  return Object.fromEntries([...(stopped!.message as string).matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
}

/**
 * `trace stats --json` agrees with the books: with nothing lost on the target, every lane's kind
 * and activations exactly, the packet count, no inconsistent events and no overflow gaps; with loss
 * (a host too slow for the firmware), gaps with the target's own count and never more activations
 * than happened. `stats` is what `trace stats --json` prints; `timerLane` the board's timer
 * interrupt (TIMER0, TIMER_IRQ_0). Returns a lane lookup.
 */
export function expectStatsMatchBooks(stats: any, firmware: Record<string, number>, timerLane: string): (name: string) => TraceLane {
  const lane = (name: string): TraceLane => stats.lanes.find((l: TraceLane) => l.lane === name);
  expect(stats.lanes.map((l: TraceLane) => l.lane)).toEqual(expect.arrayContaining(['SysTick', timerLane, 'blink', 'sensor', 'report', 'Idle']));
  expect(stats.malformed).toBe(0);
  const pairs: [string, number, string][] = [
    ['SysTick', firmware.systick, 'isr'],
    [timerLane, firmware.timer0, 'isr'],
    ['blink', firmware.blink, 'task'],
    ['sensor', firmware.sensor, 'task'],
    ['report', firmware.report, 'task'],
  ];
  const overflowGaps = stats.gaps.filter((g: { reason: string }) => g.reason === 'overflow');
  if (firmware.dropped === 0) {
    for (const [name, count, kind] of pairs) expect(lane(name)).toMatchObject({ kind, activations: count });
    expect(stats.packets).toBe(firmware.packets);
    expect(stats.inconsistentEvents).toBe(0);
    expect(overflowGaps).toEqual([]);
  } else {
    expect(stats.droppedOnTarget).toBeGreaterThan(0);
    expect(stats.droppedOnTarget).toBeLessThanOrEqual(firmware.dropped);
    expect(overflowGaps.length).toBeGreaterThan(0);
    for (const [name, count, kind] of pairs) {
      expect(lane(name).kind).toBe(kind);
      expect(lane(name).activations).toBeLessThanOrEqual(count);
    }
  }
  return lane;
}
