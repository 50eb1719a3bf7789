/**
 * The timeline: one lane per task and ISR, the last 50 ms of execution drawn on a canvas, a
 * statistics table beside it. Mouse wheel zooms, drag pans; arrow keys pan, +/- zoom.
 */
import { useEffect, useRef, useState } from 'react';
import type { TimelineSnapshot } from '../device/protocol';

const COLOURS = ['#4fc3f7', '#ffb74d', '#81c784', '#e57373', '#ba68c8', '#fff176', '#90a4ae', '#a1887f'];

export function Timeline({ snapshot }: { snapshot: TimelineSnapshot | null }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [view, setView] = useState({ zoom: 1, pan: 0 });
  const [hover, setHover] = useState<string | null>(null);
  const drag = useRef<number | null>(null);

  useEffect(() => {
    const c = canvas.current;
    if (!c || !snapshot) return;
    const dpr = window.devicePixelRatio || 1;
    const width = c.clientWidth;
    const laneH = 26;
    const height = Math.max(80, snapshot.lanes.length * laneH + 24);
    c.width = width * dpr;
    c.height = height * dpr;
    c.style.height = `${height}px`;
    const g = c.getContext('2d')!;
    g.scale(dpr, dpr);
    g.fillStyle = '#15191e';
    g.fillRect(0, 0, width, height);
    const labelW = 110;
    const windowUs = 50_000 / view.zoom;
    const end = snapshot.spanUs - view.pan;
    const start = end - windowUs;
    const x = (us: number) => labelW + ((us - start) / windowUs) * (width - labelW);
    snapshot.lanes.forEach((l, i) => {
      g.fillStyle = i % 2 ? '#1a1f25' : '#171b20';
      g.fillRect(0, i * laneH, width, laneH);
      g.fillStyle = '#cfd8dc';
      g.font = '12px system-ui, sans-serif';
      g.fillText(l.name, 6, i * laneH + 17);
    });
    for (const [lane, s, e] of snapshot.segments) {
      if (e < start || s > end) continue;
      g.fillStyle = COLOURS[lane % COLOURS.length];
      const x0 = x(Math.max(s, start));
      g.fillRect(x0, lane * laneH + 4, Math.max(1, x(Math.min(e, end)) - x0), laneH - 8);
    }
    g.fillStyle = 'rgba(244, 67, 54, 0.35)';
    for (const [s, e] of snapshot.gaps) {
      if (e < start || s > end) continue;
      g.fillRect(x(Math.max(s, start)), 0, Math.max(2, x(Math.min(e, end)) - x(Math.max(s, start))), snapshot.lanes.length * laneH);
    }
    g.fillStyle = '#90a4ae';
    g.fillText(`${(start / 1000).toFixed(1)} ms`, labelW, height - 6);
    g.fillText(`${(end / 1000).toFixed(1)} ms`, width - 70, height - 6);
  }, [snapshot, view]);

  if (!snapshot) return <p className="hint">Flash and run firmware that records SystemView (e.g. the tasks sample), then press “Record trace”.</p>;
  return (
    <div className="timeline" data-testid="timeline">
      <canvas
        ref={canvas}
        tabIndex={0}
        data-testid="timeline-canvas"
        onWheel={(e) => setView((v) => ({ ...v, zoom: Math.min(1000, Math.max(0.05, v.zoom * (e.deltaY < 0 ? 1.25 : 0.8))) }))}
        onMouseDown={(e) => (drag.current = e.clientX)}
        onMouseUp={() => (drag.current = null)}
        onMouseMove={(e) => {
          if (drag.current !== null) {
            const dx = e.clientX - drag.current;
            drag.current = e.clientX;
            setView((v) => ({ ...v, pan: Math.max(0, v.pan + (dx * 50_000) / v.zoom / 1000) }));
          }
          const lane = Math.floor(e.nativeEvent.offsetY / 26);
          const l = snapshot.lanes[lane];
          setHover(l ? `${l.name}: ${l.activations} runs, mean ${l.meanUs.toFixed(1)} µs, max ${l.maxUs.toFixed(1)} µs, load ${(l.load * 100).toFixed(1)}%` : null);
        }}
        onKeyDown={(e) => {
          if (e.key === '+' || e.key === '=') setView((v) => ({ ...v, zoom: v.zoom * 1.25 }));
          if (e.key === '-') setView((v) => ({ ...v, zoom: v.zoom * 0.8 }));
          if (e.key === 'ArrowLeft') setView((v) => ({ ...v, pan: v.pan + 5000 / v.zoom }));
          if (e.key === 'ArrowRight') setView((v) => ({ ...v, pan: Math.max(0, v.pan - 5000 / v.zoom) }));
        }}
      />
      <p className="hint">{hover ?? 'wheel: zoom · drag or ←/→: pan · hover a lane for details'}</p>
      <table className="stats" data-testid="timeline-stats">
        <thead>
          <tr>
            <th>lane</th>
            <th>kind</th>
            <th>runs</th>
            <th>CPU load</th>
            <th>mean µs</th>
            <th>max µs</th>
          </tr>
        </thead>
        <tbody>
          {snapshot.lanes.map((l) => (
            <tr key={l.name}>
              <td>{l.name}</td>
              <td>{l.kind}</td>
              <td>{l.activations}</td>
              <td>
                <span className="bar" style={{ width: `${Math.min(100, l.load * 100)}%` }} /> {(l.load * 100).toFixed(1)}%
              </td>
              <td>{l.meanUs.toFixed(1)}</td>
              <td>{l.maxUs.toFixed(1)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
