/**
 * The log console: xterm.js (fit, search, WebGL when available) showing decoded defmt records and
 * RTT text. Filters (levels, text, module) re-render from the kept records; new records are
 * appended as they arrive unless paused.
 */
import { useEffect, useRef, useState } from 'react';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { SearchAddon } from '@xterm/addon-search';
import '@xterm/xterm/css/xterm.css';
import { chooseRenderer, type RendererState } from './renderer-choice';
import type { LogLine } from '../device/protocol';

export type { Level } from './format';
import { LEVELS, formatLine, type Level } from './format';

const LINE_ENDINGS: [string, string][] = [
  ['\n', 'LF'],
  ['\r\n', 'CRLF'],
  ['\r', 'CR'],
  ['', 'none'],
];
const FIND_DECORATIONS = { matchBackground: '#5d4037', matchOverviewRuler: '#ffb74d', activeMatchBackground: '#0d47a1', activeMatchColorOverviewRuler: '#4fc3f7' };

export function LogConsole(props: {
  lines: React.MutableRefObject<LogLine[]>;
  version: number;
  upChannels: { index: number; name: string }[];
  downChannels: { index: number; name: string }[];
  onSend(channel: number, text: string): void;
  /** Shown over the terminal while nothing has arrived (first run: what to do). */
  empty?: React.ReactNode;
}) {
  const [channel, setChannel] = useState<number | 'all'>(0);
  const host = useRef<HTMLDivElement>(null);
  const term = useRef<Terminal | null>(null);
  const fit = useRef<FitAddon | null>(null);
  const search = useRef<SearchAddon | null>(null);
  const written = useRef(0);
  const [levels, setLevels] = useState<Set<Level>>(new Set(LEVELS));
  const [text, setText] = useState('');
  const [matchCase, setMatchCase] = useState(false);
  const [paused, setPaused] = useState(false);
  const [follow, setFollow] = useState(true);
  const followRef = useRef(true);
  followRef.current = follow;
  const [showLocation, setShowLocation] = useState(true);
  const [input, setInput] = useState('');
  const [downChannel, setDownChannel] = useState(0);
  const [ending, setEnding] = useState('\n');
  const [find, setFind] = useState('');
  const [found, setFound] = useState<{ index: number; count: number } | null>(null);
  /** Lines before this sequence number were cleared: no filter change brings them back. */
  const [clearedBefore, setClearedBefore] = useState(-Infinity);
  /** Lines that passed the filters while paused (shown on resume). */
  const [unseen, setUnseen] = useState(0);
  const [hasSelection, setHasSelection] = useState(false);
  const [renderer, setRenderer] = useState<RendererState | null>(null);

  useEffect(() => {
    const t = new Terminal({ convertEol: true, scrollback: 100_000, fontSize: 13, theme: { background: '#111418' }, disableStdin: true, allowProposedApi: true });
    const f = new FitAddon();
    const s = new SearchAddon();
    t.loadAddon(f);
    t.loadAddon(s);
    t.open(host.current!);
    s.onDidChangeResults((r) => setFound({ index: r.resultIndex, count: r.resultCount }));
    t.onSelectionChange(() => setHasSelection(t.hasSelection()));
    void chooseRenderer(t, (r) => {
      setRenderer(r);
      (window as unknown as { dapdeckRenderer?: RendererState }).dapdeckRenderer = r;
    });
    f.fit();
    term.current = t;
    fit.current = f;
    // For end-to-end tests (and curious users in devtools): the terminal's text, whatever renders it.
    (window as unknown as { dapdeckTerminalText?: () => string }).dapdeckTerminalText = () => {
      const b = t.buffer.active;
      const rows: string[] = [];
      for (let i = 0; i < b.length; i++) {
        const line = b.getLine(i);
        if (!line) continue;
        // A wrapped row continues the line above it.
        if (line.isWrapped && rows.length) rows[rows.length - 1] += line.translateToString(true);
        else rows.push(line.translateToString(true));
      }
      return rows.join('\n');
    };
    search.current = s;
    const onResize = () => f.fit();
    window.addEventListener('resize', onResize);
    const observer = new ResizeObserver(() => f.fit());
    observer.observe(host.current!);
    return () => {
      window.removeEventListener('resize', onResize);
      observer.disconnect();
      if (term.current === t) term.current = null;
      t.dispose();
    };
  }, []);

  const needle = matchCase ? text : text.toLowerCase();
  const has = (hay: string) => (matchCase ? hay : hay.toLowerCase()).includes(needle);
  const visible = (l: LogLine) =>
    l.seq >= clearedBefore && (channel === 'all' || l.channel === channel || l.channel < 0) && (!l.level || levels.has(l.level)) && (!text || has(l.message) || has(l.module ?? ''));

  /** Write lines; keep the view where the user put it unless following the end. */
  const writeLines = (t: Terminal, out: string[]) => {
    if (!out.length) return;
    const keep = followRef.current ? null : t.buffer.active.viewportY;
    t.write(out.join('\n') + '\n', () => {
      if (term.current !== t) return; // disposed meanwhile (unmounted): it has no viewport to scroll
      if (keep === null) t.scrollToBottom();
      else t.scrollToLine(keep);
    });
  };

  // Filters changed: redraw everything kept.
  useEffect(() => {
    const t = term.current;
    if (!t) return;
    // RIS through the write queue, not t.reset(): writes still queued from before the filter change
    // would otherwise be parsed after the reset and reappear.
    t.write('\x1bc');
    const all = props.lines.current;
    writeLines(t, all.filter(visible).map((l) => formatLine(l, showLocation, t.cols)));
    written.current = all.length ? all[all.length - 1].seq + 1 : 0;
    setUnseen(0);
  }, [levels, text, matchCase, showLocation, channel, clearedBefore]);

  // New records: append what passes the filters (while paused, only count them).
  useEffect(() => {
    const t = term.current;
    if (!t) return;
    const all = props.lines.current;
    if (paused) {
      let n = 0;
      for (let i = all.length - 1; i >= 0 && all[i].seq >= written.current; i--) if (visible(all[i])) n++;
      setUnseen(n);
      return;
    }
    const fresh: string[] = [];
    for (let i = all.length - 1; i >= 0 && all[i].seq >= written.current; i--) if (visible(all[i])) fresh.push(formatLine(all[i], showLocation, t.cols));
    if (all.length) written.current = all[all.length - 1].seq + 1;
    writeLines(t, fresh.reverse());
    setUnseen(0);
  }, [props.version, paused]);

  const runFind = (backwards = false) => {
    const s = search.current;
    if (!s) return;
    if (!find) {
      s.clearDecorations();
      setFound(null);
      return;
    }
    const hit = backwards ? s.findPrevious(find, { decorations: FIND_DECORATIONS }) : s.findNext(find, { decorations: FIND_DECORATIONS });
    if (!hit) setFound({ index: -1, count: 0 });
  };

  const save = () => {
    const body = props.lines.current
      .filter(visible)
      .map((l) => (l.level ? `${l.timestamp ?? ''} ${l.level.toUpperCase().padEnd(5)} ${l.message}${l.location ? `  ${l.module} @ ${l.location}` : ''}` : l.message))
      .join('\n');
    // The desktop app saves through main (a save dialog); the browser downloads.
    const bridge = (window as unknown as { dapdeck?: { saveLog(text: string, name?: string): Promise<string | null> } }).dapdeck;
    if (bridge) {
      void bridge.saveLog(body + '\n', 'dapdeck-log.txt');
      return;
    }
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([body + '\n'], { type: 'text/plain' }));
    a.download = 'dapdeck-log.txt';
    a.click();
  };

  return (
    <div className="console">
      <div className="channels">
        {props.upChannels
          .filter((c) => c.name !== 'SysView')
          .map((c) => (
            <button key={c.index} data-testid={`channel-${c.index}`} className={channel === c.index ? 'active' : ''} onClick={() => setChannel(c.index)}>
              {c.index}: {c.name}
            </button>
          ))}
        {props.upChannels.length > 1 && (
          <button className={channel === 'all' ? 'active' : ''} onClick={() => setChannel('all')}>
            all channels
          </button>
        )}
      </div>
      <div className="toolbar">
        {LEVELS.map((l) => (
          <label key={l} className={`level ${l}`}>
            <input
              type="checkbox"
              data-testid={`level-${l}`}
              checked={levels.has(l)}
              onChange={(e) => {
                const next = new Set(levels);
                if (e.target.checked) next.add(l);
                else next.delete(l);
                setLevels(next);
              }}
            />
            {l.toUpperCase()}
          </label>
        ))}
        <input data-testid="filter" placeholder="filter text or module" value={text} onChange={(e) => setText(e.target.value)} />
        <label>
          <input type="checkbox" checked={showLocation} onChange={(e) => setShowLocation(e.target.checked)} /> file:line
        </label>
        <label title="Match upper and lower case exactly">
          <input type="checkbox" data-testid="filter-case" checked={matchCase} onChange={(e) => setMatchCase(e.target.checked)} /> Aa
        </label>
        <label>
          <input type="checkbox" data-testid="pause" checked={paused} onChange={(e) => setPaused(e.target.checked)} /> pause
        </label>
        {paused && unseen > 0 && (
          <button className="badge" data-testid="unseen" onClick={() => setPaused(false)} title="Resume">
            {unseen} new line{unseen === 1 ? '' : 's'}
          </button>
        )}
        <label title="Scroll to the newest line as lines arrive">
          <input type="checkbox" data-testid="follow" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> follow
        </label>
        <input
          data-testid="find"
          placeholder="find"
          value={find}
          onChange={(e) => {
            setFind(e.target.value);
            setFound(null);
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter') runFind(e.shiftKey);
          }}
        />
        <span className="find-result" data-testid="find-result">
          {found ? (found.count === 0 ? 'not found' : found.index >= 0 ? `${found.index + 1} of ${found.count}` : `${found.count}+ matches`) : ''}
        </span>
        <button
          data-testid="clear"
          onClick={() => {
            const all = props.lines.current;
            setClearedBefore(all.length ? all[all.length - 1].seq + 1 : 0);
          }}
          title="Clear the console (filters do not bring the lines back; Save still has them)"
        >
          Clear
        </button>
        <button data-testid="copy" disabled={!hasSelection} title={hasSelection ? 'Copy the selected text' : 'Select text in the console to copy it'} onClick={() => {
          const selected = term.current?.getSelection() ?? '';
          if (selected) void navigator.clipboard?.writeText(selected);
        }}>
          Copy
        </button>
        <button onClick={save}>Save</button>
      </div>
      <div className="term-wrap">
        <div className="term" ref={host} data-testid="terminal" data-renderer={renderer?.kind} title={renderer ? `${renderer.kind === 'webgl' ? 'WebGL' : 'DOM'} renderer: ${renderer.reason}` : undefined} />
        {props.lines.current.length === 0 && props.empty && <div className="term-empty">{props.empty}</div>}
      </div>
      {props.downChannels.length > 0 && (
        <form
          className="send"
          onSubmit={(e) => {
            e.preventDefault();
            props.onSend(downChannel, input + ending);
            setInput('');
          }}
        >
          <select data-testid="down-channel" value={downChannel} onChange={(e) => setDownChannel(Number(e.target.value))} title="Down channel">
            {props.downChannels.map((c) => (
              <option key={c.index} value={c.index}>
                {`↓${c.index} ${c.name}`}
              </option>
            ))}
          </select>
          <input data-testid="rtt-input" placeholder={`send to down channel ${downChannel}`} value={input} onChange={(e) => setInput(e.target.value)} />
          <select data-testid="line-ending" value={ending} onChange={(e) => setEnding(e.target.value)} title="Appended to what you send">
            {LINE_ENDINGS.map(([v, name]) => (
              <option key={name} value={v}>
                {name}
              </option>
            ))}
          </select>
          <button type="submit">Send</button>
        </form>
      )}
    </div>
  );
}
