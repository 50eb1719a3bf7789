/**
 * The timeline: one lane per task and ISR over the whole recording. The canvas belongs to the
 * device worker (OffscreenCanvas), which draws straight from the timeline model at any zoom; this
 * component only turns wheel, drag and keys into a view (window length and distance from the end)
 * and shows the statistics table.
 */
import { useEffect, useRef, useState } from 'react';
import { LOAD_CHART_HEIGHT, TIMELINE_LABEL_WIDTH, timelineCanvasHeight, TIMELINE_LANE_HEIGHT as LANE_HEIGHT, type TimelineSnapshot, type TimelineView } from '../device/protocol';

const MIN_WINDOW_US = 200;

export function Timeline(props: { snapshot: TimelineSnapshot | null; onCanvas(canvas: OffscreenCanvas): void; onView(view: TimelineView): void }) {
  const { snapshot } = props;
  const canvas = useRef<HTMLCanvasElement>(null);
  const handed = useRef(false);
  // windowUs: how much time the canvas shows; backUs: how far its right edge is from the newest event.
  const [view, setView] = useState<{ windowUs: number; backUs: number; follow: boolean }>({ windowUs: 50_000, backUs: 0, follow: true });
  const [hover, setHover] = useState<string | null>(null);
  const drag = useRef<number | null>(null);
  const span = snapshot?.spanUs ?? 0;

  useEffect(() => {
    const c = canvas.current;
    if (!c || handed.current || !snapshot) return;
    handed.current = true;
    const offscreen = c.transferControlToOffscreen();
    props.onCanvas(offscreen);
  }, [snapshot, props]);

  const width = canvas.current?.clientWidth ?? 900;
  const lanesHeight = (snapshot?.lanes.length ?? 3) * LANE_HEIGHT;
  const height = timelineCanvasHeight(snapshot?.lanes.length ?? 3);
  useEffect(() => {
    if (!handed.current) return;
    props.onView({ windowUs: view.windowUs, backUs: view.follow ? 0 : view.backUs, width, height, dpr: window.devicePixelRatio || 1 });
  }, [view, width, height, props, snapshot]);

  const zoom = (factor: number) => setView((v) => ({ ...v, windowUs: Math.min(Math.max(MIN_WINDOW_US, v.windowUs * factor), Math.max(span, MIN_WINDOW_US)) }));
  const pan = (us: number) => setView((v) => ({ ...v, follow: false, backUs: Math.min(Math.max(0, v.backUs + us), Math.max(0, span - v.windowUs)) }));

  return (
    <div className="timeline" data-testid="timeline">
      {!snapshot && <p className="hint">Flash and run firmware that records SystemView (e.g. the tasks sample), then press “Record trace”.</p>}
      <canvas
        ref={canvas}
        hidden={!snapshot}
        tabIndex={0}
        data-testid="timeline-canvas"
        data-cpu-load={snapshot && !Number.isNaN(snapshot.load.meanInView) ? snapshot.load.meanInView.toFixed(4) : undefined}
        style={{ height }}
        onWheel={(e) => zoom(e.deltaY < 0 ? 0.8 : 1.25)}
        onMouseDown={(e) => (drag.current = e.clientX)}
        onMouseUp={() => (drag.current = null)}
        onMouseLeave={() => (drag.current = null)}
        onMouseMove={(e) => {
          if (drag.current !== null) {
            const dx = e.clientX - drag.current;
            drag.current = e.clientX;
            pan((dx / Math.max(1, width - TIMELINE_LABEL_WIDTH)) * view.windowUs);
          }
          const { offsetX, offsetY } = e.nativeEvent;
          if (snapshot && offsetY >= lanesHeight && offsetY < lanesHeight + LOAD_CHART_HEIGHT && offsetX >= TIMELINE_LABEL_WIDTH) {
            // The load strip: the value under the cursor, from the columns the worker last drew.
            const { values, fromUs, toUs } = snapshot.load;
            const c = Math.floor(((offsetX - TIMELINE_LABEL_WIDTH) / Math.max(1, width - TIMELINE_LABEL_WIDTH)) * values.length);
            const at = fromUs + ((c + 0.5) / Math.max(1, values.length)) * (toUs - fromUs);
            const v = values[c];
            setHover(v === undefined || Number.isNaN(v) ? null : `CPU load ${(v * 100).toFixed(1)} % at ${(at / 1000).toFixed(3)} ms (everything but Idle)`);
            return;
          }
          const l = snapshot?.lanes[Math.floor(offsetY / LANE_HEIGHT)];
          setHover(l ? `${l.name}: ${l.activations} runs, mean ${l.meanUs.toFixed(1)} µs, max ${l.maxUs.toFixed(1)} µs, load ${(l.load * 100).toFixed(1)}%` : null);
        }}
        onKeyDown={(e) => {
          if (e.key === '+' || e.key === '=') zoom(0.8);
          if (e.key === '-') zoom(1.25);
          if (e.key === 'ArrowLeft') pan(view.windowUs / 10);
          if (e.key === 'ArrowRight') pan(-view.windowUs / 10);
          if (e.key === 'End') setView((v) => ({ ...v, follow: true, backUs: 0 }));
        }}
      />
      {snapshot && (
        <>
          <p className="hint">
            {hover ?? `showing ${(view.windowUs / 1000).toFixed(1)} ms of ${(span / 1000).toFixed(1)} ms${view.follow ? ' (following)' : ''} · wheel or +/−: zoom · drag or ←/→: pan · End: follow`}
          </p>
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
                    <span className="load-track">
                      <span className="load-fill" style={{ width: `${Math.min(100, l.load * 100)}%` }} />
                    </span>
                    {(l.load * 100).toFixed(1)}%
                  </td>
                  <td>{l.meanUs.toFixed(1)}</td>
                  <td>{l.maxUs.toFixed(1)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {snapshot.gaps.length > 0 && <p className="bad">{snapshot.gaps.length} gap(s): the target dropped trace packets there (drawn red, nothing invented).</p>}
        </>
      )}
    </div>
  );
}
