/**
 * Drawing a Timeline model for a viewport: the model hands out either the segments themselves or
 * per-lane load over buckets (its pre-aggregated levels), never more than `maxItems`, so a frame
 * costs the same at any zoom over any trace length.
 */
import type { Timeline } from '../../../core/trace/timeline';

const COLOURS = ['#4fc3f7', '#ffb74d', '#81c784', '#e57373', '#ba68c8', '#fff176', '#90a4ae', '#a1887f'];

export function drawTimeline(g: CanvasRenderingContext2D, model: Timeline, view: { t0: number; t1: number }, size: { width: number; laneHeight: number; labelWidth: number }): number {
  const { width, laneHeight: h, labelWidth } = size;
  const lanes = model.lanes.length;
  // Rows follow the model's display order (ISRs, tasks, scheduler, idle), the same order as the
  // statistics table beside it, so a row and its table line (and hover text) are the same lane.
  const order = model.displayOrder();
  const row = new Int32Array(lanes);
  order.forEach((l, r) => (row[l.index] = r));
  g.fillStyle = '#15191e';
  g.fillRect(0, 0, width, lanes * h);
  const span = view.t1 - view.t0;
  const plot = width - labelWidth;
  const x = (t: number) => labelWidth + ((t - view.t0) / span) * plot;
  const v = model.view(view.t0, view.t1, Math.max(500, plot * 2));
  let items = 0;
  if (v.kind === 'segments') {
    for (const s of v.segments) {
      g.fillStyle = COLOURS[s.lane % COLOURS.length];
      const x0 = Math.max(labelWidth, x(s.start));
      g.fillRect(x0, row[s.lane] * h + 3, Math.max(1, Math.min(width, x(s.end)) - x0), h - 6);
      items++;
    }
  } else {
    for (let lane = 0; lane < v.lanes.length; lane++) {
      const loads = v.lanes[lane];
      g.fillStyle = COLOURS[lane % COLOURS.length];
      for (let i = 0; i < loads.length; i++) {
        if (loads[i] <= 0) continue;
        const t = v.origin + i * v.bucketTicks;
        const x0 = Math.max(labelWidth, x(t));
        const w = Math.max(1, x(t + v.bucketTicks) - x0);
        const barH = Math.max(1, (h - 6) * Math.min(1, loads[i] * 4));
        g.fillRect(x0, row[lane] * h + h - 3 - barH, w, barH);
        items++;
      }
    }
  }
  g.fillStyle = '#cfd8dc';
  g.font = '12px system-ui, sans-serif';
  for (let r = 0; r < lanes; r++) g.fillText(order[r].name, 6, r * h + h / 2 + 4);
  return items;
}
