/**
 * Drawing a Timeline model for a viewport: the model hands out either the segments themselves or
 * per-lane load over buckets (its pre-aggregated levels), never more than `maxItems`, so a frame
 * costs the same at any zoom over any trace length.
 */
import type { Timeline } from '../../../core/trace/timeline';
import { LOAD_CHART_HEIGHT, TIMELINE_LABEL_WIDTH } from '../device/protocol';

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
  // One path per lane, filled once with the lane's colour: a fillStyle change and a fill per
  // rectangle is what made a busy frame slow on a software canvas.
  const paths = Array.from({ length: Math.max(1, lanes) }, () => new Path2D());
  if (v.kind === 'segments') {
    for (const s of v.segments) {
      const x0 = Math.max(labelWidth, x(s.start));
      paths[s.lane].rect(x0, row[s.lane] * h + 3, Math.max(1, Math.min(width, x(s.end)) - x0), h - 6);
      items++;
    }
  } else {
    for (let lane = 0; lane < v.lanes.length; lane++) {
      const loads = v.lanes[lane];
      for (let i = 0; i < loads.length; i++) {
        if (loads[i] <= 0) continue;
        const t = v.origin + i * v.bucketTicks;
        const x0 = Math.max(labelWidth, x(t));
        const w = Math.max(1, x(t + v.bucketTicks) - x0);
        const barH = Math.max(1, (h - 6) * Math.min(1, loads[i] * 4));
        paths[lane].rect(x0, row[lane] * h + h - 3 - barH, w, barH);
        items++;
      }
    }
  }
  // Colours by row (stable run to run); idle and the scheduler muted so work stands out.
  for (let lane = 0; lane < lanes; lane++) {
    const kind = model.lanes[lane].kind;
    g.fillStyle = kind === 'idle' ? '#3d4b53' : kind === 'scheduler' ? '#78909c' : COLOURS[row[lane] % COLOURS.length];
    g.fill(paths[lane]);
  }
  g.fillStyle = '#cfd8dc';
  g.font = '12px system-ui, sans-serif';
  for (let r = 0; r < lanes; r++) g.fillText(order[r].name, 6, r * h + h / 2 + 4);
  return items;
}

/** Mean of the known (non-NaN) values, NaN if none. */
export function meanOf(values: ArrayLike<number>): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i])) continue;
    sum += values[i];
    n++;
  }
  return n ? sum / n : NaN;
}

/**
 * The CPU-load strip under the lanes: one column per pixel, the share of that slice of time spent
 * outside Idle (tasks, interrupts, scheduler), with 50 % and 100 % lines; columns with nothing
 * recorded stay empty rather than reading as idle.
 */
export function drawLoadChart(g: CanvasRenderingContext2D, load: ArrayLike<number>, top: number, width: number, mean: number, labelWidth = TIMELINE_LABEL_WIDTH, height = LOAD_CHART_HEIGHT): void {
  const plotTop = top + 6;
  const plotHeight = height - 12;
  g.fillStyle = '#11151a';
  g.fillRect(0, top, width, height);
  g.strokeStyle = '#263238';
  g.lineWidth = 1;
  for (const level of [0, 0.5, 1]) {
    const y = Math.round(plotTop + plotHeight * (1 - level)) + 0.5;
    g.beginPath();
    g.moveTo(labelWidth, y);
    g.lineTo(width, y);
    g.stroke();
  }
  // One filled path (a step outline per run of recorded columns), not a rectangle per column:
  // a single fill is what keeps this strip cheap at every zoom.
  g.fillStyle = 'rgba(79, 195, 247, 0.75)';
  const columnWidth = (width - labelWidth) / Math.max(1, load.length);
  const base = plotTop + plotHeight;
  g.beginPath();
  let open = false;
  for (let c = 0; c <= load.length; c++) {
    const v = c < load.length ? load[c] : NaN;
    const x = labelWidth + c * columnWidth;
    if (Number.isNaN(v)) {
      if (open) {
        g.lineTo(x, base);
        g.closePath();
        open = false;
      }
      continue;
    }
    const y = base - Math.max(v > 0 ? 1 : 0, v * plotHeight);
    if (!open) {
      g.moveTo(x, base);
      open = true;
    }
    g.lineTo(x, y);
    g.lineTo(x + columnWidth, y);
  }
  g.fill();
  g.fillStyle = '#cfd8dc';
  g.font = '12px system-ui, sans-serif';
  g.fillText('CPU load', 6, top + height / 2);
  g.fillStyle = '#90a4ae';
  g.font = '11px system-ui, sans-serif';
  g.fillText(Number.isNaN(mean) ? '—' : `mean ${(mean * 100).toFixed(1)} %`, 6, top + height / 2 + 14);
  g.fillText('100 %', width - 34, plotTop + 9);
}

/** A tick step of 1, 2 or 5 × 10^k µs giving about `target` ticks over `spanUs`. */
export function tickStepUs(spanUs: number, target = 8): number {
  const raw = spanUs / Math.max(1, target);
  const p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-3))));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** A time in µs in the unit its tick step reads best in (µs, ms or s), with the decimals the step needs. */
export function formatTimeUs(us: number, stepUs: number): string {
  const [unit, scale] = stepUs >= 1e6 ? ['s', 1e6] : stepUs >= 1e3 ? ['ms', 1e3] : ['µs', 1];
  const decimals = Math.max(0, -Math.floor(Math.log10(stepUs / scale) + 1e-9));
  return `${(us / scale).toFixed(decimals)} ${unit}`;
}

/** The time axis under the load strip: ticks at round times (from the recording's start) with units. */
export function drawAxis(g: CanvasRenderingContext2D, fromUs: number, toUs: number, width: number, top: number, height: number, labelWidth = TIMELINE_LABEL_WIDTH): void {
  const span = Math.max(1e-6, toUs - fromUs);
  const plot = width - labelWidth;
  const step = tickStepUs(span, Math.max(2, Math.floor(plot / 110)));
  g.strokeStyle = '#455a64';
  g.fillStyle = '#90a4ae';
  g.font = '11px system-ui, sans-serif';
  g.lineWidth = 1;
  for (let tick = Math.ceil(fromUs / step) * step; tick <= toUs; tick += step) {
    const x = Math.round(labelWidth + ((tick - fromUs) / span) * plot) + 0.5;
    g.beginPath();
    g.moveTo(x, top);
    g.lineTo(x, top + 5);
    g.stroke();
    const label = formatTimeUs(tick, step);
    const w = g.measureText(label).width;
    g.fillText(label, Math.min(width - w - 2, Math.max(labelWidth, x - w / 2)), Math.min(height - 4, top + 17));
  }
}
