/**
 * The timeline: one lane per task and ISR over the whole recording. The canvas belongs to the
 * device worker (OffscreenCanvas), which draws straight from the timeline model at any zoom; this
 * component only turns wheel, drag and keys into a view (window length and distance from the end)
 * and shows the statistics table.
 */
import { useEffect, useRef, useState } from 'react';
import { LOAD_CHART_HEIGHT, TIMELINE_LABEL_WIDTH, timelineCanvasHeight, TIMELINE_LANE_HEIGHT as LANE_HEIGHT, type TimelineHover, type TimelineSnapshot, type TimelineView } from '../device/protocol';
import { formatTimeUs, tickStepUs } from './timeline-draw';

/** A duration in the unit that reads best. */
export function formatDurationUs(us: number): string {
  return formatTimeUs(us, tickStepUs(Math.abs(us) * 8 || 1));
}

/** The window and recording lengths, in ms (as the axis reads at those zooms). */
function ms(us: number): string {
  return `${(us / 1000).toFixed(us < 1000 ? 3 : 1)} ms`;
}

const MIN_WINDOW_US = 200;

export function Timeline(props: {
  snapshot: TimelineSnapshot | null;
  recording: boolean;
  hover: TimelineHover | null;
  onCanvas(canvas: OffscreenCanvas): void;
  onView(view: TimelineView): void;
  onHover(x: number | null, y: number): void;
}) {
  const { snapshot } = props;
  const canvas = useRef<HTMLCanvasElement>(null);
  const handed = useRef(false);
  // windowUs: how much time the canvas shows; backUs: how far its right edge is from the newest event.
  const [view, setView] = useState<{ windowUs: number; backUs: number; follow: boolean }>({ windowUs: 50_000, backUs: 0, follow: true });
  const [hover, setHover] = useState<string | null>(null);
  const [marks, setMarks] = useState<number[]>([]);
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
    props.onView({ windowUs: view.windowUs, backUs: view.follow ? 0 : view.backUs, width, height, dpr: window.devicePixelRatio || 1, marks });
  }, [view, width, height, props, snapshot, marks]);

  /** µs from the start at a canvas x, in the window last drawn. */
  const usAt = (x: number) => {
    const { fromUs, toUs } = snapshot!.load;
    return fromUs + ((x - TIMELINE_LABEL_WIDTH) / Math.max(1, width - TIMELINE_LABEL_WIDTH)) * (toUs - fromUs);
  };
  /** Zoom keeping the time under `x` (a canvas x; default the right edge) where it is on screen. */
  const zoom = (factor: number, x?: number) =>
    setView((v) => {
      const windowUs = Math.min(Math.max(MIN_WINDOW_US, v.windowUs * factor), Math.max(span, MIN_WINDOW_US));
      if (x === undefined || x < TIMELINE_LABEL_WIDTH) return { ...v, windowUs };
      const f = Math.min(1, Math.max(0, (x - TIMELINE_LABEL_WIDTH) / Math.max(1, width - TIMELINE_LABEL_WIDTH)));
      const right = span - (v.follow ? 0 : v.backUs);
      const at = right - v.windowUs * (1 - f);
      const backUs = Math.min(Math.max(0, span - (at + windowUs * (1 - f))), Math.max(0, span - windowUs));
      return { windowUs, backUs, follow: backUs === 0 && v.follow };
    });
  const pan = (us: number) => setView((v) => ({ ...v, follow: false, backUs: Math.min(Math.max(0, v.backUs + us), Math.max(0, span - v.windowUs)) }));

  return (
    <div className="timeline" data-testid="timeline">
      {!snapshot && !props.recording && <p className="hint">Flash and run firmware that records SystemView (e.g. the tasks sample), then press “Record trace”, or load a saved recording.</p>}
      {props.recording && (!snapshot || snapshot.lanes.length === 0) && (
        <p className="hint" data-testid="recording-status">
          Recording: {snapshot?.events ?? 0} events, {snapshot?.bytes ?? 0} bytes so far{(snapshot?.bytes ?? 0) === 0 ? ' — no SystemView data yet: does this firmware record SystemView (an RTT channel named “SysView”)?' : ''}
        </p>
      )}
      <canvas
        ref={canvas}
        hidden={!snapshot || snapshot.lanes.length === 0}
        tabIndex={0}
        data-testid="timeline-canvas"
        data-cpu-load={snapshot && !Number.isNaN(snapshot.load.meanInView) ? snapshot.load.meanInView.toFixed(4) : undefined}
        style={{ height }}
        onWheel={(e) => zoom(e.deltaY < 0 ? 0.8 : 1.25, e.nativeEvent.offsetX)}
        onMouseDown={(e) => (drag.current = e.clientX)}
        onMouseUp={() => (drag.current = null)}
        onClick={(e) => {
          // Shift-click: a measuring point (two at most; a third starts again).
          if (!e.shiftKey || !snapshot || e.nativeEvent.offsetX < TIMELINE_LABEL_WIDTH) return;
          const at = usAt(e.nativeEvent.offsetX);
          setMarks((m) => (m.length >= 2 ? [at] : [...m, at]));
        }}
        onMouseLeave={() => {
          drag.current = null;
          setHover(null);
          props.onHover(null, 0);
        }}
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
            props.onHover(null, 0); // no lane span under the cursor here
            return;
          }
          setHover(null);
          props.onHover(offsetX, offsetY);
        }}
        onKeyDown={(e) => {
          if (e.key === '+' || e.key === '=') zoom(0.8);
          if (e.key === '-') zoom(1.25);
          if (e.key === 'ArrowLeft') pan(view.windowUs / 10);
          if (e.key === 'ArrowRight') pan(-view.windowUs / 10);
          if (e.key === 'End') setView((v) => ({ ...v, follow: true, backUs: 0 }));
          if (e.key === 'Escape') setMarks([]);
        }}
      />
      {snapshot && (
        <>
          <p className="hint" data-testid="timeline-hint">
            {`showing ${ms(Math.min(view.windowUs, Math.max(span, MIN_WINDOW_US)))} of ${ms(span)}${view.follow ? ' (following)' : ''}${props.recording ? ` · ${snapshot.events} events, ${(snapshot.bytes / 1024).toFixed(1)} KiB` : snapshot.source !== 'live' ? ` · ${snapshot.source}` : ''} · wheel or +/−: zoom at the cursor · drag or ←/→: pan · End: follow · shift-click: measure`}
          </p>
          <p className="hover" data-testid="timeline-hover">
            {props.hover
              ? `${props.hover.lane} (${props.hover.kind}): from ${(props.hover.startUs / 1000).toFixed(3)} ms, for ${formatDurationUs(props.hover.durationUs)}${props.hover.preemptedBy ? `, preempted by ${props.hover.preemptedBy}` : ''}${props.hover.truncated ? ' (cut short by a gap)' : ''}`
              : hover ?? '\u00a0'}
          </p>
          {marks.length > 0 && (
            <p className="measure" data-testid="timeline-measure">
              {marks.length === 1 ? `A at ${formatTimeUs(marks[0], tickStepUs(view.windowUs))}: shift-click a second point` : `A→B: ${formatDurationUs(marks[1] - marks[0])} (A ${formatTimeUs(marks[0], tickStepUs(view.windowUs))}, B ${formatTimeUs(marks[1], tickStepUs(view.windowUs))})`}{' '}
              <button onClick={() => setMarks([])}>clear</button>
            </p>
          )}
          <EventList spans={snapshot.spans} />
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

/** The task and ISR spans of the window on screen (it follows zoom and pan). */
function EventList({ spans }: { spans: TimelineSnapshot['spans'] }) {
  const { list, total, complete, fromUs, toUs } = spans;
  const count = `${total}${complete ? '' : '+'}`;
  return (
    <div className="events" data-testid="timeline-events" data-from-us={fromUs.toFixed(3)} data-to-us={toUs.toFixed(3)} data-total={total} data-complete={complete ? 'yes' : 'no'}>
      <p className="hint">
        {total === 0 ? 'No task or ISR runs in this window.' : `${count} span${total === 1 ? '' : 's'} in this window (${(fromUs / 1000).toFixed(3)}–${(toUs / 1000).toFixed(3)} ms)${list.length < total ? `, the first ${list.length} listed: zoom in for the rest` : ''}`}
      </p>
      {list.length > 0 && (
        <div className="event-scroll">
          <table className="stats">
            <thead>
              <tr>
                <th>task / ISR</th>
                <th>kind</th>
                <th>start</th>
                <th>duration</th>
              </tr>
            </thead>
            <tbody>
              {list.map((s, i) => (
                <tr key={i} data-lane={s.lane} data-start-us={s.startUs.toFixed(3)} data-duration-us={s.durationUs.toFixed(3)}>
                  <td>{s.lane}</td>
                  <td>{s.kind}</td>
                  <td>{(s.startUs / 1000).toFixed(3)} ms</td>
                  <td>{formatDurationUs(s.durationUs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
