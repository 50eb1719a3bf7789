/**
 * The Dapdeck app: probe picker, chip selector, flash panel, consoles (defmt/RTT in xterm.js, a
 * serial console) and the task/ISR timeline. All hardware work happens in the device worker; this
 * thread only keeps state and draws.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { FromWorker, LogLine, TimelineSnapshot, TimelineView, ToWorker } from './device/protocol';
import { LogConsole, type Level } from './ui/LogConsole';
import { Timeline } from './ui/Timeline';
import { SerialConsole } from './ui/SerialConsole';
import { hexDump } from '../../core/dap/protocol';
import { CMSIS_DAP_FILTERS, CMSIS_DAP_HID_FILTERS, WebHidTransport, WebUsbTransport, exposeTransport } from './device/webusb';

interface ProbeListing {
  selector: string;
  description: string;
  kind: string;
  /** Set when the server sees the probe but cannot open it (shown, not selectable). */
  problem?: string;
}

interface Chip {
  chip: string;
  target: string;
}

const token = new URLSearchParams(location.search).get('token');
const withToken = (path: string, t: string | null) => `${path}${t ? `${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(t)}` : ''}`;
/** An absolute URL on this page's server, or on a remote `dapdeck serve` given as http://host:port/?token=… */
function remote(server: string, path: string): string {
  if (!server.trim()) return new URL(withToken(path, token), location.href).href;
  const base = new URL(server.includes('://') ? server : `http://${server}`);
  return new URL(withToken(path, base.searchParams.get('token')), base.origin).href;
}

interface DeviceRequest {
  requestId: number;
  kind: string;
  devices: { id: string; name: string }[];
}
const bridge = (
  window as unknown as {
    dapdeck?: { onDeviceRequest(l: (r: DeviceRequest) => void): () => void; chooseDevice(id: number, device: string | null): Promise<void>; appendLog(lines: string[]): Promise<void> };
  }
).dapdeck;
const MAX_LINES = 200_000;
const PHASES: Record<string, string> = { plan: 'Checking', erase: 'Erasing', program: 'Programming', verify: 'Verifying' };

export function App() {
  const worker = useMemo(() => new Worker(new URL('./device/device.worker.ts', import.meta.url), { type: 'module' }), []);
  const send = useCallback((m: ToWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer), [worker]);
  const [probes, setProbes] = useState<ProbeListing[]>([]);
  const [chips, setChips] = useState<Chip[]>([]);
  const [selector, setSelector] = useState('emu:microbit');
  const [chip, setChip] = useState('nRF51822_xxAA');
  const [status, setStatus] = useState<{ state: string; detail: string }>({ state: 'disconnected', detail: 'not connected' });
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<{ phase: string; done: number; total: number } | null>(null);
  const [result, setResult] = useState<{ text: string; ok: boolean } | null>(null);
  const [errors, setErrors] = useState<string[]>([]);
  const [tab, setTab] = useState<'console' | 'timeline' | 'serial'>('console');
  const [timeline, setTimeline] = useState<TimelineSnapshot | null>(null);
  const [tracing, setTracing] = useState(false);
  const [registers, setRegisters] = useState<[string, number][]>([]);
  const [memory, setMemory] = useState<{ address: number; bytes: Uint8Array } | null>(null);
  const [memAddress, setMemAddress] = useState('0x20000000');
  const [memLength, setMemLength] = useState('64');
  const [server, setServer] = useState('');
  const [deviceRequest, setDeviceRequest] = useState<DeviceRequest | null>(null);
  const [channels, setChannels] = useState<{ up: { index: number; name: string }[]; down: { index: number; name: string }[] }>({ up: [], down: [] });
  const lines = useRef<LogLine[]>([]);
  const [lineVersion, setLineVersion] = useState(0);
  const [dragging, setDragging] = useState(false);

  // In the desktop app, Chromium's device choosers are answered by this picker (through main).
  useEffect(() => bridge?.onDeviceRequest((r) => setDeviceRequest(r)), []);

  useEffect(() => {
    // The page's own server lists probes and chips; a remote server is reached over its probe socket.
    fetch(remote('', '/api/probes'))
      .then((r) => r.json())
      .then((list: ProbeListing[]) => setProbes(list))
      .catch(() => setProbes([]));
    fetch(remote('', '/api/chips'))
      .then((r) => r.json())
      .then((list: Chip[]) => setChips(list))
      .catch(() => setChips([]));
  }, []);

  useEffect(() => {
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const m = event.data;
      switch (m.type) {
        case 'status':
          setStatus({ state: m.state, detail: m.detail });
          // A new connection: what was read from the previous target no longer describes anything.
          if (m.state === 'connecting') {
            setRegisters([]);
            setMemory(null);
          }
          break;
        case 'progress':
          setProgress({ phase: m.phase, done: m.done, total: m.total });
          break;
        case 'flashed':
          setProgress(null);
          setResult({ text: m.summary, ok: m.verified });
          break;
        case 'lines': {
          // In the desktop app, main keeps the session's log file: every record, as it arrives.
          void bridge?.appendLog(m.lines.map((l) => `${l.timestamp ?? ''} ${l.level ? l.level.toUpperCase().padEnd(5) : `[${l.channel}]`} ${l.message}${l.location ? `  ${l.module} @ ${l.location}` : ''}`.replace(/\n/g, ' ')));
          const all = lines.current;
          all.push(...m.lines);
          if (all.length > MAX_LINES) all.splice(0, all.length - MAX_LINES);
          setLineVersion((v) => v + 1);
          break;
        }
        case 'channels':
          setChannels({ up: m.up, down: m.down });
          break;
        case 'timeline':
          setTimeline(m.snapshot);
          break;
        case 'registers':
          setRegisters(m.values);
          break;
        case 'memory':
          setMemory({ address: m.address, bytes: m.bytes });
          break;
        case 'error':
          setErrors((e) => [...e.slice(-4), m.message]);
          setProgress(null);
          break;
      }
    };
  }, [worker]);

  // A probe on this computer picked through WebUSB/WebHID: shown in the probe list while in use,
  // and reopened by Reconnect.
  const local = useRef<{ transport: WebUsbTransport | WebHidTransport; kind: 'usb' | 'hid'; exposed: { retire(): void } } | null>(null);
  const [localName, setLocalName] = useState<string | null>(null);

  const attachLocal = async (transport: WebUsbTransport | WebHidTransport, kind: 'usb' | 'hid') => {
    // Reattaching: the old session's port is retired first (its late "close" must not close the
    // device under the new session), and the device closed and opened again so that no transfer
    // the old session left pending can take the new session's first answer.
    if (local.current) {
      local.current.exposed.retire();
      await local.current.transport.close();
    }
    await transport.open();
    const channel = new MessageChannel();
    local.current = { transport, kind, exposed: exposeTransport(transport, channel.port1) };
    setLocalName(transport.description);
    send({ type: 'connect-port', port: channel.port2, packetSize: transport.packetSize, description: `${transport.description} (${kind === 'hid' ? 'WebHID, CMSIS-DAP v1' : 'WebUSB'})` }, [channel.port2]);
  };

  const connect = () => {
    setErrors([]);
    if (localName && local.current) {
      attachLocal(local.current.transport, local.current.kind).catch((err: Error) => setErrors((e) => [...e, err.message]));
      return;
    }
    const url = remote(server, `/probe?selector=${encodeURIComponent(selector)}&blank=1`).replace(/^http/, 'ws');
    send({ type: 'connect', url });
  };

  const connectUsb = async (kind: 'usb' | 'hid') => {
    setErrors([]);
    try {
      let transport: WebUsbTransport | WebHidTransport;
      if (kind === 'usb') {
        if (!('usb' in navigator)) throw new Error('WebUSB is not available in this browser (Chrome or Edge, on http://localhost or https)');
        transport = new WebUsbTransport(await navigator.usb.requestDevice({ filters: CMSIS_DAP_FILTERS }));
      } else {
        if (!('hid' in navigator)) throw new Error('WebHID is not available in this browser (Chrome or Edge, on http://localhost or https)');
        const [device] = await navigator.hid.requestDevice({ filters: CMSIS_DAP_HID_FILTERS });
        if (!device) return;
        transport = new WebHidTransport(device);
      }
      await attachLocal(transport, kind);
    } catch (err) {
      setErrors((e) => [...e, (err as Error).message]);
    }
  };

  const flash = async (run: boolean) => {
    if (!file) return;
    const c = chips.find((x) => x.chip === chip);
    if (!c) {
      setErrors((e) => [...e, `unknown chip ${chip}`]);
      return;
    }
    setResult(null);
    const [image, yaml] = await Promise.all([file.arrayBuffer(), fetch(remote('', `/api/targets/${c.target}`)).then((r) => r.text())]);
    send({ type: 'flash', image, fileName: file.name, chip, targetYaml: yaml, targetFile: c.target, run }, [image]);
  };

  const onTimelineCanvas = useCallback((canvas: OffscreenCanvas) => send({ type: 'timeline-canvas', canvas }, [canvas]), [send]);
  const onTimelineView = useCallback((view: TimelineView) => send({ type: 'timeline-view', view }), [send]);
  const connected = status.state === 'connected' || status.state === 'busy';
  const onDrop = (e: React.DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const f = e.dataTransfer.files[0];
    if (f) setFile(f);
  };

  return (
    <div className="app">
      {deviceRequest && (
        <div className="modal" role="dialog" aria-label="Choose a device">
          <div className="dialog">
            <h2>Choose a {deviceRequest.kind === 'serial' ? 'serial port' : 'CMSIS-DAP probe'}</h2>
            {deviceRequest.devices.length === 0 && <p className="hint">None connected.</p>}
            {deviceRequest.devices.map((d) => (
              <button
                key={d.id}
                onClick={() => {
                  void bridge?.chooseDevice(deviceRequest.requestId, d.id);
                  setDeviceRequest(null);
                }}
              >
                {d.name}
              </button>
            ))}
            <button
              onClick={() => {
                void bridge?.chooseDevice(deviceRequest.requestId, null);
                setDeviceRequest(null);
              }}
            >
              Cancel
            </button>
          </div>
        </div>
      )}
      <header className="bar">
        <strong className="brand">Dapdeck</strong>
        <label>
          Probe{' '}
          {server.trim() && <input className="server" data-testid="remote-selector" placeholder="selector on the remote server, e.g. emu:microbit" value={selector} onChange={(e) => setSelector(e.target.value)} />}
          <select
            data-testid="probe"
            hidden={!!server.trim()}
            value={localName ? 'local:' : selector}
            onChange={(e) => {
              if (e.target.value === 'local:') return;
              setLocalName(null);
              local.current?.exposed.retire();
              void local.current?.transport.close();
              local.current = null;
              setSelector(e.target.value);
            }}
          >
            {localName && <option value="local:">{`USB: ${localName}`}</option>}
            {probes.map((p) => (
              <option key={p.selector} value={p.selector} title={p.description} disabled={!!p.problem}>
                {p.problem ? `${p.selector} (cannot open: ${p.problem})` : p.selector}
              </option>
            ))}
            {probes.length === 0 && <option value="emu:microbit">emu:microbit</option>}
          </select>
        </label>
        <label>
          Chip{' '}
          <select data-testid="chip" value={chip} onChange={(e) => setChip(e.target.value)}>
            {chips.map((c) => (
              <option key={c.chip} value={c.chip}>
                {c.chip}
              </option>
            ))}
          </select>
        </label>
        <input className="server" data-testid="server" placeholder="remote server (host:port/?token=…)" value={server} onChange={(e) => setServer(e.target.value)} title="Probes on another machine: its dapdeck serve address" />
        <button data-testid="connect" onClick={connect} disabled={status.state === 'connecting' || status.state === 'busy'}>
          {connected ? 'Reconnect' : 'Connect'}
        </button>
        <button data-testid="connect-hid" onClick={() => connectUsb('hid')} disabled={status.state === 'connecting' || status.state === 'busy'} title="A CMSIS-DAP v1 (HID) probe on this computer's USB">
          HID probe…
        </button>
        <button data-testid="connect-usb" onClick={() => connectUsb('usb')} disabled={status.state === 'connecting' || status.state === 'busy'} title="A CMSIS-DAP v2 probe on this computer's USB">
          WebUSB probe…
        </button>
        <span data-testid="status" className={`status ${status.state}`}>
          {status.detail}
        </span>
        <span className="spacer" />
        <button onClick={() => send({ type: 'control', action: 'halt' })} disabled={!connected}>
          Halt
        </button>
        <button onClick={() => send({ type: 'control', action: 'resume' })} disabled={!connected}>
          Run
        </button>
        <button onClick={() => send({ type: 'control', action: 'reset' })} disabled={!connected}>
          Reset
        </button>
      </header>

      <aside className="side">
        <section
          className={`drop ${dragging ? 'over' : ''}`}
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={onDrop}
        >
          <h2>Flash</h2>
          <p className="hint">Drop an ELF, HEX or BIN here, or</p>
          <input data-testid="file" type="file" accept=".elf,.hex,.ihex,.bin,application/octet-stream" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
          <p className="file">{file ? `${file.name} (${(file.size / 1024).toFixed(1)} KiB)` : 'no file chosen'}</p>
          <div className="row">
            <button data-testid="flash-run" onClick={() => flash(true)} disabled={!connected || !file || status.state === 'busy'}>
              Flash &amp; run
            </button>
            <button onClick={() => flash(false)} disabled={!connected || !file || status.state === 'busy'}>
              Flash only
            </button>
            <button
              data-testid="attach"
              onClick={async () => send({ type: 'attach', elf: file ? await file.arrayBuffer() : null, fileName: file?.name ?? '' })}
              disabled={!connected}
            >
              Attach
            </button>
          </div>
          {progress && (
            <div className="progress" data-testid="progress">
              <div className="label">
                {PHASES[progress.phase] ?? progress.phase} {progress.phase === 'program' ? `${(progress.done / 1024).toFixed(1)} / ${(progress.total / 1024).toFixed(1)} KiB` : `${progress.done} / ${progress.total} sectors`}
              </div>
              <div className="track">
                <div className="fill" style={{ width: `${progress.total ? (100 * progress.done) / progress.total : 0}%` }} />
              </div>
            </div>
          )}
          {result && (
            <p data-testid="flash-result" className={result.ok ? 'ok' : 'bad'}>
              {result.ok ? '✓ ' : '✗ '}
              {result.text}
            </p>
          )}
        </section>
        {errors.length > 0 && (
          <section className="errors" data-testid="errors">
            {errors.map((e, i) => (
              <p key={i}>{e}</p>
            ))}
          </section>
        )}
        <section className="memory">
          <h2>Memory</h2>
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              send({ type: 'read-memory', address: Number(memAddress), length: Number(memLength) });
            }}
          >
            <input data-testid="mem-address" value={memAddress} onChange={(e) => setMemAddress(e.target.value)} size={11} />
            <input value={memLength} onChange={(e) => setMemLength(e.target.value)} size={5} />
            <button type="submit" disabled={!connected}>
              Read
            </button>
          </form>
          {/* 8 bytes a line: a 16-byte line does not fit the side panel. */}
          {memory && <pre data-testid="memory-dump">{hexDump(memory.address, memory.bytes, 8)}</pre>}
        </section>
        {registers.length > 0 && (
          <section className="registers">
            <h2>Registers (halted)</h2>
            <table>
              <tbody>
                {registers.map(([n, v]) => (
                  <tr key={n}>
                    <td>{n}</td>
                    <td>0x{v.toString(16).padStart(8, '0')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        )}
      </aside>

      <main className="main">
        <nav className="tabs">
          {(['console', 'timeline', 'serial'] as const).map((t) => (
            <button key={t} data-testid={`tab-${t}`} className={tab === t ? 'active' : ''} onClick={() => setTab(t)}>
              {t === 'console' ? 'Console' : t === 'timeline' ? 'Timeline' : 'Serial'}
            </button>
          ))}
        </nav>
        <div className="panel" hidden={tab !== 'console'}>
          <LogConsole lines={lines} version={lineVersion} upChannels={channels.up} downChannels={channels.down} onSend={(channel, text) => send({ type: 'rtt-write', channel, text })} />
        </div>
        <div className="panel" hidden={tab !== 'timeline'}>
          <div className="row">
            <button
              data-testid="trace-toggle"
              disabled={!connected}
              onClick={() => {
                send({ type: 'trace', on: !tracing });
                setTracing(!tracing);
              }}
            >
              {tracing ? 'Stop recording' : 'Record trace (SystemView)'}
            </button>
          </div>
          <Timeline snapshot={timeline} onCanvas={onTimelineCanvas} onView={onTimelineView} />
        </div>
        <div className="panel" hidden={tab !== 'serial'}>
          <SerialConsole />
        </div>
      </main>
    </div>
  );
}

export type { Level };
