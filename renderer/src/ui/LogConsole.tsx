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
import type { LogLine } from '../device/protocol';

export type { Level } from './format';
import { LEVELS, formatLine, type Level } from './format';

export function LogConsole(props: {
  lines: React.MutableRefObject<LogLine[]>;
  version: number;
  upChannels: { index: number; name: string }[];
  downChannels: { index: number; name: string }[];
  onSend(channel: number, text: string): void;
}) {
  const [channel, setChannel] = useState<number | 'all'>(0);
  const host = useRef<HTMLDivElement>(null);
  const term = useRef<Terminal | null>(null);
  const fit = useRef<FitAddon | null>(null);
  const search = useRef<SearchAddon | null>(null);
  const written = useRef(0);
  const [levels, setLevels] = useState<Set<Level>>(new Set(LEVELS));
  const [text, setText] = useState('');
  const [paused, setPaused] = useState(false);
  const [showLocation, setShowLocation] = useState(true);
  const [input, setInput] = useState('');
  const [find, setFind] = useState('');

  useEffect(() => {
    const t = new Terminal({ convertEol: true, scrollback: 100_000, fontSize: 13, theme: { background: '#111418' }, disableStdin: true });
    const f = new FitAddon();
    const s = new SearchAddon();
    t.loadAddon(f);
    t.loadAddon(s);
    t.open(host.current!);
    void import('@xterm/addon-webgl')
      .then(({ WebglAddon }) => {
        try {
          const webgl = new WebglAddon();
          webgl.onContextLoss(() => webgl.dispose());
          t.loadAddon(webgl);
        } catch {
          // No WebGL (headless, old GPU): the DOM renderer stays.
        }
      })
      .catch(() => undefined);
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
      t.dispose();
    };
  }, []);

  const visible = (l: LogLine) =>
    (channel === 'all' || l.channel === channel || l.channel < 0) && (!l.level || levels.has(l.level)) && (!text || l.message.includes(text) || (l.module ?? '').includes(text));

  // Filters changed: redraw everything kept.
  useEffect(() => {
    const t = term.current;
    if (!t) return;
    // RIS through the write queue, not t.reset(): writes still queued from before the filter change
    // would otherwise be parsed after the reset and reappear.
    t.write('\x1bc');
    const all = props.lines.current;
    const out = all.filter(visible).map((l) => formatLine(l, showLocation));
    if (out.length) t.write(out.join('\n') + '\n');
    written.current = all.length ? all[all.length - 1].seq + 1 : 0;
  }, [levels, text, showLocation, channel]);

  // New records: append what passes the filters.
  useEffect(() => {
    const t = term.current;
    if (!t || paused) return;
    const all = props.lines.current;
    const fresh: string[] = [];
    for (let i = all.length - 1; i >= 0 && all[i].seq >= written.current; i--) if (visible(all[i])) fresh.push(formatLine(all[i], showLocation));
    if (all.length) written.current = all[all.length - 1].seq + 1;
    if (fresh.length) t.write(fresh.reverse().join('\n') + '\n');
  }, [props.version, paused]);

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
        <label>
          <input type="checkbox" data-testid="pause" checked={paused} onChange={(e) => setPaused(e.target.checked)} /> pause
        </label>
        <input
          placeholder="find"
          value={find}
          onChange={(e) => setFind(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') search.current?.findNext(find);
          }}
        />
        <button onClick={() => term.current?.clear()}>Clear</button>
        <button onClick={() => navigator.clipboard?.writeText(term.current?.getSelection() ?? '')}>Copy</button>
        <button onClick={save}>Save</button>
      </div>
      <div className="term" ref={host} data-testid="terminal" />
      {props.downChannels.length > 0 && (
        <form
          className="send"
          onSubmit={(e) => {
            e.preventDefault();
            props.onSend(props.downChannels[0].index, input + '\n');
            setInput('');
          }}
        >
          <input data-testid="rtt-input" placeholder={`send to down channel 0 "${props.downChannels[0].name}"`} value={input} onChange={(e) => setInput(e.target.value)} />
          <button type="submit">Send</button>
        </form>
      )}
    </div>
  );
}
