/**
 * The Dapdeck app: probe picker, chip selector, flash panel, consoles (defmt/RTT in xterm.js, a
 * serial console) and the task/ISR timeline. All hardware work happens in the device worker; this
 * thread only keeps state and draws.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { PAGE_PICO_DESCRIPTION, PAGE_PICO_SELECTOR, type FromWorker, type LogLine, type TargetState, type TimelineHover, type TimelineSnapshot, type TimelineView, type ToWorker } from './device/protocol';
import * as pageEmulator from 'virtual:page-emulator';
import { LogConsole } from './ui/LogConsole';
import { Timeline } from './ui/Timeline';
import { SerialConsole } from './ui/SerialConsole';
import { hexDump } from '../../core/dap/protocol';
import type { PortableChip } from '../../core/flash/portable-chip';
import { CMSIS_DAP_FILTERS, CMSIS_DAP_HID_FILTERS, WebHidTransport, WebUsbTransport, exposeTransport } from './device/webusb';
import { FIRMWARE_BYTES, keepBoard, keepFirmware, keptBoard, keptFirmware, restoreHistory, saveHistoryNow, saveHistorySoon, updateBoard } from './reload-keep';

interface ProbeListing {
  selector: string;
  description: string;
  kind: string;
  /** Set when the server sees the probe but cannot open it (shown, not selectable). */
  problem?: string;
}

/** A chip as /api/chips lists it (built in, from an installed pack, or a target file the server was given). */
interface Chip {
  chip: string;
  family: string;
  cores: string[];
  flashBytes: number;
  ramBytes: number;
  source: string;
  pack?: string;
}

/** Options shown in the chip menu at most (the search narrows them). */
const CHIP_OPTIONS = 300;

const hex8 = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

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
/** The page has begun taking its board over after a reload. */
let reattachStarted = false;
/** The chip of the page's own emulated Pico as the chip menu lists it (there is no server to ask). */
const PAGE_CHIP: Chip | null = pageEmulator.chip && {
  chip: pageEmulator.chip.name,
  family: pageEmulator.chip.family,
  cores: pageEmulator.chip.cores,
  flashBytes: pageEmulator.chip.regions.reduce((n, r) => n + r.size, 0),
  ramBytes: pageEmulator.chip.ram.size,
  source: 'built-in',
};
const PHASES: Record<string, string> = { plan: 'Checking', erase: 'Erasing', program: 'Programming', verify: 'Verifying' };

export function App() {
  const worker = useMemo(() => new Worker(new URL('./device/device.worker.ts', import.meta.url), { type: 'module' }), []);
  const [probes, setProbes] = useState<ProbeListing[]>([]);
  const [chips, setChips] = useState<Chip[]>([]);
  // A reload keeps the board (reattached), the chosen file and the console (see reload-keep.ts).
  const [kept] = useState(keptBoard);
  const [selector, setSelector] = useState(kept?.selector ?? 'emu:microbit');
  const [chip, setChip] = useState(kept?.chip ?? 'nRF51822_xxAA');
  const [chipSearch, setChipSearch] = useState('');
  /** The chosen chip resolved by the server (regions, algorithms), or why it cannot be flashed. */
  const [chipDetail, setChipDetail] = useState<{ name: string; chip: PortableChip | null; problem?: string } | null>(null);
  const [eraseRange, setEraseRange] = useState('');
  const [eraseResult, setEraseResult] = useState<string | null>(null);
  const [readStart, setReadStart] = useState('');
  const [readLength, setReadLength] = useState('');
  const [readProgress, setReadProgress] = useState<{ done: number; total: number } | null>(null);
  const [target, setTarget] = useState<TargetState>({ kind: 'disconnected' });
  const [file, setFile] = useState<File | null>(keptFirmware);
  const [fileKept, setFileKept] = useState(true);
  const [binBase, setBinBase] = useState('0x00000000');
  const [progress, setProgress] = useState<{ phase: string; done: number; total: number } | null>(null);
  const [result, setResult] = useState<{ text: string; ok: boolean } | null>(null);
  const [errors, setErrors] = useState<{ id: number; text: string }[]>([]);
  const [tab, setTab] = useState<'console' | 'timeline' | 'serial'>('console');
  const [timeline, setTimeline] = useState<TimelineSnapshot | null>(null);
  const [tracing, setTracing] = useState(false);
  const [timelineHover, setTimelineHover] = useState<TimelineHover | null>(null);
  const [registers, setRegisters] = useState<{ values: [string, number][]; stale: boolean } | null>(null);
  const [memory, setMemory] = useState<{ address: number; label: string; bytes: Uint8Array; whileRunning: boolean; stale: boolean } | null>(null);
  const [memAddress, setMemAddress] = useState('0x20000000');
  const [memLength, setMemLength] = useState('64');
  const [server, setServer] = useState(kept?.server ?? '');
  /** The page came from a plain static server (no `dapdeck serve` API): only the page's own Pico and USB probes work. */
  const [serverless, setServerless] = useState(false);
  const [emulatorSpeed, setEmulatorSpeed] = useState<{ emulatedMHz: number; mips: number } | null>(null);
  const [deviceRequest, setDeviceRequest] = useState<DeviceRequest | null>(null);
  const [channels, setChannels] = useState<{ up: { index: number; name: string }[]; down: { index: number; name: string }[] }>({ up: [], down: [] });
  const [restoredLines] = useState(restoreHistory);
  const lines = useRef<LogLine[]>(restoredLines);
  const [lineVersion, setLineVersion] = useState(0);
  const [dragging, setDragging] = useState(false);
  const errorId = useRef(0);
  const fileInput = useRef<HTMLInputElement>(null);

  const addError = useCallback((text: string) => setErrors((e) => [...e.slice(-3), { id: errorId.current++, text }]), []);
  /** Every user action goes through here: the errors of the previous action no longer apply. */
  const send = useCallback(
    (m: ToWorker, transfer: Transferable[] = []) => {
      if (!['timeline-canvas', 'timeline-view', 'firmware-file', 'transport-lost'].includes(m.type)) setErrors([]);
      worker.postMessage(m, transfer);
    },
    [worker],
  );

  // In the desktop app, Chromium's device choosers are answered by this picker (through main).
  useEffect(() => bridge?.onDeviceRequest((r) => setDeviceRequest(r)), []);

  useEffect(() => {
    // The page's own server lists probes and chips; a remote server is reached over its probe socket.
    fetch(remote('', '/api/probes'))
      .then((r) => r.json())
      .then((list: ProbeListing[]) => setProbes(list))
      .catch(() => {
        // No probe server behind this page: the emulated Pico in the page is the board to offer.
        setProbes([]);
        setServerless(true);
        if (!kept) {
          setSelector(PAGE_PICO_SELECTOR);
          setChip(pageEmulator.chipName);
        }
      });
    fetch(remote('', '/api/chips'))
      .then((r) => r.json())
      .then((list: Chip[]) => setChips(list))
      .catch(() => setChips(PAGE_CHIP ? [PAGE_CHIP] : []));
  }, []);

  useEffect(() => {
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const m = event.data;
      switch (m.type) {
        case 'state':
          setTarget(m.state);
          if (m.state.kind === 'connecting') {
            // A new connection: what was read from the previous target no longer describes anything.
            setRegisters(null);
            setMemory(null);
          }
          if (m.state.kind === 'running') {
            // Read while halted, now possibly changed: kept on screen, marked stale.
            setRegisters((r) => r && { ...r, stale: true });
            setMemory((v) => v && { ...v, stale: !v.whileRunning || v.stale });
          }
          if (m.state.kind !== 'flashing') setProgress(null);
          if (m.state.kind === 'connecting' || m.state.kind === 'disconnected') setEmulatorSpeed(null);
          break;
        case 'board':
          updateBoard({ key: m.reattachKey });
          break;
        case 'streaming':
          updateBoard({ streaming: m.fileName });
          break;
        case 'firmware':
          setRegisters(null);
          setMemory(null);
          setTimeline(null);
          setTracing(false);
          break;
        case 'progress':
          setProgress({ phase: m.phase, done: m.done, total: m.total });
          break;
        case 'flashed':
          setProgress(null);
          setResult({ text: m.summary, ok: m.verified });
          break;
        case 'erased':
          setEraseResult(m.summary);
          break;
        case 'read-progress':
          setReadProgress(m.done < m.total ? { done: m.done, total: m.total } : null);
          break;
        case 'lines': {
          // In the desktop app, main keeps the session's log file: every record, as it arrives.
          void bridge?.appendLog(m.lines.map((l) => `${l.timestamp ?? ''} ${l.level ? l.level.toUpperCase().padEnd(5) : `[${l.channel}]`} ${l.message}${l.location ? `  ${l.module} @ ${l.location}` : ''}`.replace(/\n/g, ' ')));
          const all = lines.current;
          all.push(...m.lines);
          if (all.length > MAX_LINES) all.splice(0, all.length - MAX_LINES);
          setLineVersion((v) => v + 1);
          saveHistorySoon(all);
          break;
        }
        case 'channels':
          setChannels({ up: m.up, down: m.down });
          break;
        case 'timeline':
          setTimeline(m.snapshot);
          break;
        case 'timeline-hover':
          setTimelineHover(m.hover);
          break;
        case 'download': {
          const a = document.createElement('a');
          a.href = URL.createObjectURL(new Blob([m.data], { type: m.mime }));
          a.download = m.name;
          a.click();
          setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
          break;
        }
        case 'registers':
          setRegisters({ values: m.values, stale: false });
          break;
        case 'memory':
          setMemory({ address: m.address, label: m.label, bytes: m.bytes, whileRunning: m.whileRunning, stale: false });
          break;
        case 'emulator':
          setEmulatorSpeed({ emulatedMHz: m.emulatedMHz, mips: m.mips });
          break;
        case 'error':
          addError(m.message);
          if (m.action === 'trace') setTracing(false);
          if (m.action === 'read-to-file') setReadProgress(null);
          break;
      }
    };
  }, [worker, addError]);

  // A probe on this computer picked through WebUSB/WebHID: shown in the probe list while in use,
  // and reopened by Reconnect.
  const local = useRef<{ transport: WebUsbTransport | WebHidTransport; kind: 'usb' | 'hid'; exposed: { retire(): void } } | null>(null);
  const [localName, setLocalName] = useState<string | null>(null);

  // Unplugged: the worker hears it at once instead of waiting on transfers that will never end.
  useEffect(() => {
    const onDisconnect = (e: Event) => {
      const device = (e as Event & { device?: unknown }).device;
      const t = local.current?.transport;
      if (t && device && ((t instanceof WebUsbTransport && t.device === device) || (t instanceof WebHidTransport && t.device === device))) {
        send({ type: 'transport-lost', reason: `${t.description} was unplugged` });
      }
    };
    const nav = navigator as Navigator & { usb?: EventTarget; hid?: EventTarget };
    if (typeof nav.usb?.addEventListener === 'function') nav.usb.addEventListener('disconnect', onDisconnect);
    if (typeof nav.hid?.addEventListener === 'function') nav.hid.addEventListener('disconnect', onDisconnect);
    return () => {
      if (typeof nav.usb?.removeEventListener === 'function') nav.usb.removeEventListener('disconnect', onDisconnect);
      if (typeof nav.hid?.removeEventListener === 'function') nav.hid.removeEventListener('disconnect', onDisconnect);
    };
  }, [send]);

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

  /**
   * Connect, or reconnect. The server holds a page's board for a while after its socket drops: a
   * reconnect to the same board (after a reload, or Reconnect) takes it over with the server's key,
   * firmware still running, and streams its RTT again if it was streaming.
   */
  const connect = async () => {
    setErrors([]);
    if (localName && local.current) {
      keepBoard(null);
      attachLocal(local.current.transport, local.current.kind).catch((err: Error) => addError(err.message));
      return;
    }
    if (selector === PAGE_PICO_SELECTOR && !server.trim()) {
      // Nothing to reattach to after a reload: the page's Pico starts fresh each time.
      keepBoard(null);
      send({ type: 'connect-page' });
      return;
    }
    const url = remote(server, `/probe?selector=${encodeURIComponent(selector)}&blank=1&reattach=1`).replace(/^http/, 'ws');
    const before = keptBoard();
    if (before?.key && before.url === url) {
      const streamed = before.streaming;
      const elf = streamed && file?.name === streamed ? await file.arrayBuffer() : null;
      send({ type: 'connect', url, resume: { key: before.key, stream: streamed ? { elf, fileName: streamed } : null } }, elf ? [elf] : []);
      return;
    }
    keepBoard({ url, key: null, streaming: null, selector, server, chip });
    send({ type: 'connect', url });
  };

  // After a reload: the symbols of the kept file, and the board this tab had, taken over.
  useEffect(() => {
    if (file) void file.arrayBuffer().then((bytes) => send({ type: 'firmware-file', bytes, fileName: file.name }, [bytes]));
    // Once per page load, even where React runs effects twice (StrictMode in development): a second
    // connect would use the key the first one used up.
    if (kept?.key && !reattachStarted) {
      reattachStarted = true;
      void connect();
    }
  }, []); // once, at load

  // The last second of lines is kept too when the page goes (the save timer would not run).
  useEffect(() => {
    window.addEventListener('pagehide', saveHistoryNow);
    return () => window.removeEventListener('pagehide', saveHistoryNow);
  }, []);

  useEffect(() => updateBoard({ chip }), [chip]);

  // The chosen chip as the server resolves it: what flash and erase use, and where read-back starts.
  useEffect(() => {
    let current = true;
    const resolved = (c: PortableChip) => {
      setChipDetail({ name: chip, chip: c });
      const first = c.regions[0];
      if (first) {
        setReadStart(hex8(first.start));
        setReadLength(hex8(first.size));
      }
    };
    /** Without a server, the page's own Pico chip comes with the build (resolved as the server resolves it). */
    const bundled = (problem: string) => {
      if (!current) return;
      if (chip !== pageEmulator.chipName) return setChipDetail({ name: chip, chip: null, problem });
      if (pageEmulator.chip) return resolved(pageEmulator.chip);
      setChipDetail({ name: chip, chip: null, problem: pageEmulator.chipProblem ?? problem });
    };
    fetch(remote('', `/api/chips/${encodeURIComponent(chip)}`))
      .then(async (r) => {
        const body = await r.json();
        if (!current) return;
        if (!r.ok) return bundled(body.error ?? `HTTP ${r.status}`);
        resolved(body as PortableChip);
      })
      .catch((err: Error) => bundled(err.message));
    return () => {
      current = false;
    };
  }, [chip]);

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
      addError((err as Error).message);
    }
  };

  const isBin = !!file && /\.bin$/i.test(file.name);
  const base = parseAddress(binBase);
  /** The chosen chip resolved, or an error said and null. */
  const resolvedChip = (): PortableChip | null => {
    if (chipDetail?.name === chip && chipDetail.chip) return chipDetail.chip;
    addError(chipDetail?.name === chip && chipDetail.problem ? `cannot use ${chip}: ${chipDetail.problem}` : `${chip} is not resolved yet: try again in a moment`);
    return null;
  };
  const flash = async (run: boolean) => {
    if (!file) return;
    setErrors([]);
    const c = resolvedChip();
    if (!c) return;
    if (isBin && base === null) {
      addError(`“${binBase}” is not an address: a .bin image needs the address it goes to (e.g. 0x00000000)`);
      return;
    }
    setResult(null);
    const image = await file.arrayBuffer();
    send({ type: 'flash', image, fileName: file.name, chip: c, run, base: isBin ? base! : undefined }, [image]);
  };
  const erase = () => {
    setErrors([]);
    const c = resolvedChip();
    if (!c) return;
    let range: { start: number; size: number } | undefined;
    if (eraseRange.trim()) {
      const parsed = parseRange(eraseRange);
      if (!parsed) {
        addError(`“${eraseRange}” is not a range: give START..END or START+LENGTH (e.g. 0x0..0x1000), or leave it empty to erase everything`);
        return;
      }
      range = parsed;
    }
    setEraseResult(null);
    send({ type: 'erase', chip: c, range });
  };
  const readToFile = () => {
    const start = parseAddress(readStart);
    const length = parseAddress(readLength);
    if (start === null || length === null || length === 0) {
      addError(`read back: give a start address and a length (e.g. 0x00000000 and 0x40000)`);
      return;
    }
    setReadProgress({ done: 0, total: length });
    send({ type: 'read-to-file', address: start, length, name: `${chip}-${hex8(start)}-${hex8(length)}.bin` });
  };

  const chooseFile = (f: File | null) => {
    setFile(f);
    setResult(null);
    void keepFirmware(f).then(setFileKept);
    // The worker keeps the ELF's symbols for the memory view (a copy: the flash sends its own).
    if (f) void f.arrayBuffer().then((bytes) => send({ type: 'firmware-file', bytes, fileName: f.name }, [bytes]));
    else send({ type: 'firmware-file', bytes: null, fileName: '' });
  };

  /** A sample that comes with the page, chosen as if it were a file the user picked. */
  const chooseBundledSample = async (name: string) => {
    const sample = pageEmulator.samples.find((s) => s.name === name);
    if (!sample) return;
    try {
      const r = await fetch(sample.url);
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      chooseFile(new File([await r.arrayBuffer()], sample.fileName));
      // The file input no longer names the file in use.
      if (fileInput.current) fileInput.current.value = '';
    } catch (err) {
      addError(`the bundled sample ${sample.fileName} did not load: ${(err as Error).message}`);
    }
  };

  const onTimelineCanvas = useCallback((canvas: OffscreenCanvas) => send({ type: 'timeline-canvas', canvas }, [canvas]), [send]);
  const onTimelineView = useCallback((view: TimelineView) => send({ type: 'timeline-view', view }), [send]);
  const onTimelineHover = useCallback((x: number | null, y: number) => {
    if (x === null) setTimelineHover(null);
    send({ type: 'timeline-hover', x, y });
  }, [send]);
  const k = target.kind;
  const ready = k === 'running' || k === 'halted';
  const busy = k === 'connecting' || k === 'flashing';
  const flashBlocker = k === 'flashing' ? 'flashing…' : k === 'connecting' ? 'connecting…' : k === 'lost' ? 'the connection was lost: reconnect first' : !ready ? 'connect to a probe first' : !file ? 'choose a firmware file first' : isBin && base === null ? 'give the .bin image its base address' : null;
  // The chip menu: every chip the server knows whose name, family, core or source has every word
  // searched for; the chosen chip stays in it whatever the search.
  const words = chipSearch.toLowerCase().split(/\s+/).filter(Boolean);
  const matchingChips = chips.filter((c) => {
    const text = `${c.chip} ${c.family} ${c.cores.join(' ')} ${c.source} ${c.pack ?? ''}`.toLowerCase();
    return words.every((w) => text.includes(w));
  });
  const shownChips = [...(matchingChips.some((c) => c.chip === chip) ? [] : chips.filter((c) => c.chip === chip)), ...matchingChips.slice(0, CHIP_OPTIONS)].map((c) => ({
    chip: c.chip,
    label: `${c.chip} — ${c.family}${c.source === 'built-in' ? '' : ` (${c.source === 'pack' ? 'pack' : 'target file'})`}`,
    title: `${c.chip}: ${c.family}, ${c.cores.join('+') || 'core not given'}, ${c.flashBytes / 1024} KiB flash, ${c.ramBytes / 1024} KiB RAM, ${c.source === 'pack' ? `pack ${c.pack}` : c.source}`,
  }));
  if (shownChips.length === 0) shownChips.push({ chip, label: chip, title: chip });
  const onDrop = (e: React.DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const f = e.dataTransfer.files[0];
    if (f) chooseFile(f);
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
        <label className="field">
          <span className="field-name">Probe</span>
          {server.trim() && <input className="remote-selector" data-testid="remote-selector" placeholder="selector, e.g. emu:microbit" value={selector} onChange={(e) => setSelector(e.target.value)} />}
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
              if (e.target.value === PAGE_PICO_SELECTOR) setChip(pageEmulator.chipName);
            }}
          >
            {localName && <option value="local:">{`USB: ${localName}`}</option>}
            <option value={PAGE_PICO_SELECTOR} title="rp2040js running in this page's worker, behind the CMSIS-DAP v2 model: no server, nothing installed">
              {PAGE_PICO_DESCRIPTION}
            </option>
            {probes.map((p) => (
              <option key={p.selector} value={p.selector} title={p.description} disabled={!!p.problem}>
                {p.problem ? `${p.selector} (cannot open: ${p.problem})` : p.selector}
              </option>
            ))}
            {probes.length === 0 && !serverless && <option value="emu:microbit">emu:microbit</option>}
          </select>
        </label>
        <label className="field chip-field">
          <span className="field-name">Chip</span>
          <input data-testid="chip-search" className="chip-search" placeholder={`search ${chips.length} chips`} value={chipSearch} onChange={(e) => setChipSearch(e.target.value)} title="Name, family, core or source (pack, target file) of any chip Dapdeck knows" />
          <select data-testid="chip" value={chip} onChange={(e) => setChip(e.target.value)} title={shownChips.find((c) => c.chip === chip)?.title}>
            {shownChips.map((c) => (
              <option key={c.chip} value={c.chip} title={c.title}>
                {c.label}
              </option>
            ))}
          </select>
          <span className="hint" data-testid="chip-count">
            {chipSearch.trim() ? `${matchingChips.length} of ${chips.length}` : `${chips.length} chips`}
          </span>
        </label>
        <button data-testid="connect" className={k === 'lost' ? 'primary' : ''} onClick={connect} disabled={busy}>
          {k === 'disconnected' ? 'Connect' : 'Reconnect'}
        </button>
        <div className={`target-state ${k} ${target.kind === 'running' && target.lockup ? 'lockup' : ''}`} title={stateTitle(target)}>
          <span data-testid="target-state" data-state={k} data-lockup={target.kind === 'running' && target.lockup ? 'yes' : undefined} className="state-label">
            {stateLabel(target)}
          </span>
          <span data-testid="status" className="status">
            {stateDetail(target)}
          </span>
        </div>
        <button data-testid="halt" onClick={() => send({ type: 'control', action: 'halt' })} disabled={k !== 'running'}>
          Halt
        </button>
        <button data-testid="run" onClick={() => send({ type: 'control', action: 'resume' })} disabled={k !== 'halted'}>
          Run
        </button>
        <button data-testid="reset" onClick={() => send({ type: 'control', action: 'reset' })} disabled={!ready}>
          Reset
        </button>
      </header>

      <aside className="side">
        <section className="probe-extra">
          <div className="row">
            <button data-testid="connect-hid" onClick={() => connectUsb('hid')} disabled={busy} title="A CMSIS-DAP v1 (HID) probe on this computer's USB">
              HID probe…
            </button>
            <button data-testid="connect-usb" onClick={() => connectUsb('usb')} disabled={busy} title="A CMSIS-DAP v2 probe on this computer's USB">
              WebUSB probe…
            </button>
          </div>
          {emulatorSpeed && (
            <p className="hint" data-testid="emulator-speed" title="The emulated Pico over the last second: its 125 MHz clock as emulated per second of wall time (a sleeping core counts as keeping up), and instructions executed">
              {`Pico in this page: ${emulatorSpeed.emulatedMHz.toFixed(1)} MHz emulated of 125, ${emulatorSpeed.mips.toFixed(1)} MIPS`}
            </p>
          )}
          <input className="server" data-testid="server" placeholder="remote server (host:port/?token=…)" value={server} onChange={(e) => setServer(e.target.value)} title="Probes on another machine: its dapdeck serve address" />
        </section>
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
          {selector === PAGE_PICO_SELECTOR && !localName && pageEmulator.samples.length > 0 && (
            <label className="field bundled-sample">
              <span className="field-name">Sample</span>
              <select data-testid="bundled-sample" value="" onChange={(e) => void chooseBundledSample(e.target.value)} title="Firmware that comes with this page, built for the Pico">
                <option value="">bundled with this page…</option>
                {pageEmulator.samples.map((s) => (
                  <option key={s.name} value={s.name}>
                    {s.fileName}
                  </option>
                ))}
              </select>
            </label>
          )}
          <p className="hint">Drop an ELF, HEX, UF2 or BIN here, or</p>
          <input ref={fileInput} data-testid="file" type="file" accept=".elf,.hex,.ihex,.uf2,.bin,application/octet-stream" onChange={(e) => chooseFile(e.target.files?.[0] ?? null)} />
          <p className="file" data-testid="file-name">{file ? `${file.name} (${(file.size / 1024).toFixed(1)} KiB)` : 'no file chosen'}</p>
          {file && !fileKept && <p className="hint">Not kept across a reload (over {(FIRMWARE_BYTES / 1e6).toFixed(1)} MB, or storage is full): choose it again after one.</p>}
          {isBin && (
            <label className="bin-base">
              Base address{' '}
              <input data-testid="bin-base" value={binBase} onChange={(e) => setBinBase(e.target.value)} size={11} className={base === null ? 'invalid' : ''} />
            </label>
          )}
          <div className="row">
            <button data-testid="flash-run" onClick={() => flash(true)} disabled={!!flashBlocker}>
              Flash &amp; run
            </button>
            <button data-testid="flash-only" onClick={() => flash(false)} disabled={!!flashBlocker}>
              Flash only
            </button>
            <button
              data-testid="attach"
              title="Stream RTT from the firmware already on the target (the chosen ELF decodes it)"
              onClick={async () => send({ type: 'attach', elf: file ? await file.arrayBuffer() : null, fileName: file?.name ?? '' })}
              disabled={!ready}
            >
              Attach
            </button>
          </div>
          {flashBlocker && k !== 'flashing' && (
            <p className="hint" data-testid="flash-hint">
              Flash: {flashBlocker}
            </p>
          )}
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
        <section className="flash-tools">
          <h2>Erase and read back</h2>
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              erase();
            }}
          >
            <input data-testid="erase-range" value={eraseRange} onChange={(e) => setEraseRange(e.target.value)} size={18} placeholder="all, or 0x0..0x1000" title="Empty: erase all of the chip's flash. START..END or START+LENGTH: the sectors covering it" />
            <button type="submit" data-testid="erase" disabled={!ready}>
              {eraseRange.trim() ? 'Erase range' : 'Erase all'}
            </button>
          </form>
          {eraseResult && (
            <p className="ok" data-testid="erase-result">
              ✓ {eraseResult}
            </p>
          )}
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              readToFile();
            }}
          >
            <input data-testid="readback-start" value={readStart} onChange={(e) => setReadStart(e.target.value)} size={11} title="start address" placeholder="start" />
            <input data-testid="readback-length" value={readLength} onChange={(e) => setReadLength(e.target.value)} size={9} title="bytes to read" placeholder="length" />
            <button type="submit" data-testid="readback-save" disabled={!ready || !!readProgress} title="Read memory (flash by default) into a .bin file">
              Save to file
            </button>
          </form>
          {readProgress && (
            <p className="hint" data-testid="readback-progress">
              Reading {(readProgress.done / 1024).toFixed(0)} / {(readProgress.total / 1024).toFixed(0)} KiB…
            </p>
          )}
        </section>
        {registers && (
          <section className={`registers ${registers.stale ? 'stale' : ''}`} data-testid="registers">
            <h2>Registers {registers.stale ? <span className="tag">stale: target running</span> : <span className="tag fresh">at halt</span>}</h2>
            <table>
              <tbody>
                {registers.values.map(([n, v]) => (
                  <tr key={n}>
                    <td>{n}</td>
                    <td>0x{v.toString(16).padStart(8, '0')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        )}
        <section className="memory">
          <h2>Memory</h2>
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              send({ type: 'read-memory', address: memAddress, length: Number(memLength) });
            }}
          >
            <input data-testid="mem-address" value={memAddress} onChange={(e) => setMemAddress(e.target.value)} size={14} title="An address (0x20000000) or a symbol of the chosen ELF (main, _SEGGER_RTT)" placeholder="address or symbol" />
            <input data-testid="mem-length" value={memLength} onChange={(e) => setMemLength(e.target.value)} size={4} title="bytes (1 to 4096)" />
            <button type="submit" data-testid="mem-read" disabled={!ready}>
              Read
            </button>
          </form>
          {memory && (
            <div className={memory.stale ? 'stale' : ''}>
              <p className="hint" data-testid="memory-caption">
                {memory.label}
                {memory.label.startsWith('0x') ? '' : ` @ 0x${memory.address.toString(16).padStart(8, '0')}`} · {memory.bytes.length} bytes
                {memory.stale ? ' · stale: target running' : memory.whileRunning ? ' · read while running' : ' · at halt'}
              </p>
              {/* 8 bytes a line: a 16-byte line does not fit the side panel. */}
              <pre data-testid="memory-dump">{hexDump(memory.address, memory.bytes, 8)}</pre>
            </div>
          )}
        </section>
      </aside>

      <main className="main">
        {errors.length > 0 && (
          <section className="errors" data-testid="errors" role="alert">
            {errors.map((e) => (
              <div key={e.id} className="error">
                <span>{e.text}</span>
                <button className="dismiss" title="Dismiss" aria-label="Dismiss" onClick={() => setErrors((all) => all.filter((x) => x.id !== e.id))}>
                  ✕
                </button>
              </div>
            ))}
          </section>
        )}
        {k === 'lost' && (
          <section className="lost" data-testid="lost">
            <span>
              Connection lost: {target.reason}. Nothing is sent to the probe until you reconnect.
            </span>
            <button className="primary" data-testid="reconnect" onClick={connect}>
              Reconnect
            </button>
          </section>
        )}
        <nav className="tabs">
          {(['console', 'timeline', 'serial'] as const).map((t) => (
            <button key={t} data-testid={`tab-${t}`} className={tab === t ? 'active' : ''} onClick={() => setTab(t)}>
              {t === 'console' ? 'Console' : t === 'timeline' ? 'Timeline' : 'Serial'}
            </button>
          ))}
        </nav>
        <div className="panel" hidden={tab !== 'console'}>
          <LogConsole
            lines={lines}
            version={lineVersion}
            upChannels={channels.up}
            downChannels={channels.down}
            onSend={(channel, text) => send({ type: 'rtt-write', channel, text })}
            empty={
              <ol className="first-run" data-testid="first-run">
                <li className={k !== 'disconnected' ? 'done' : ''}>Pick a probe (an emulated board works without hardware) and press Connect.</li>
                <li className={file ? 'done' : ''}>Choose firmware: drop an ELF, HEX, UF2 or BIN on the Flash panel.</li>
                <li>Press Flash &amp; run: its log appears here (or Attach to firmware already running).</li>
              </ol>
            }
          />
        </div>
        <div className="panel" hidden={tab !== 'timeline'}>
          <div className="row">
            <button
              data-testid="trace-toggle"
              disabled={!tracing && k !== 'running'}
              onClick={() => {
                send({ type: 'trace', on: !tracing });
                setTracing(!tracing);
              }}
            >
              {tracing ? 'Stop recording' : 'Record trace (SystemView)'}
            </button>
            <button data-testid="recording-save" disabled={!timeline || timeline.bytes === 0} onClick={() => send({ type: 'recording-save', format: 'svdat' })} title="The SystemView bytes as received (load them here again)">
              Save recording
            </button>
            <button data-testid="recording-perfetto" disabled={!timeline || timeline.lanes.length === 0} onClick={() => send({ type: 'recording-save', format: 'perfetto' })} title="Chrome trace JSON: open in ui.perfetto.dev or chrome://tracing">
              Export for Perfetto
            </button>
            <label className="file-button">
              Load recording…
              <input
                type="file"
                data-testid="recording-load"
                hidden
                onChange={(e) => {
                  const f = e.target.files?.[0];
                  if (f) void f.arrayBuffer().then((bytes) => send({ type: 'recording-load', bytes, fileName: f.name }, [bytes]));
                  e.target.value = '';
                }}
              />
            </label>
          </div>
          <Timeline snapshot={timeline} recording={tracing} hover={timelineHover} onCanvas={onTimelineCanvas} onView={onTimelineView} onHover={onTimelineHover} />
        </div>
        <div className="panel" hidden={tab !== 'serial'}>
          <SerialConsole />
        </div>
      </main>
    </div>
  );
}

/** An address as typed: 0x… or decimal, within 32 bits; null if it is not one. */
function parseAddress(text: string): number | null {
  const t = text.trim();
  if (!/^(0x[0-9a-f]{1,8}|\d{1,10})$/i.test(t)) return null;
  const n = Number(t);
  return n <= 0xffffffff ? n : null;
}

/** START..END or START+LENGTH (addresses as parseAddress reads them). */
function parseRange(text: string): { start: number; size: number } | null {
  const m = /^\s*(\S+?)\s*(\.\.|\+)\s*(\S+)\s*$/.exec(text);
  if (!m) return null;
  const a = parseAddress(m[1]);
  const b = parseAddress(m[3]);
  if (a === null || b === null) return null;
  const size = m[2] === '+' ? b : b - a;
  return size > 0 && a + size <= 2 ** 32 ? { start: a, size } : null;
}

function stateLabel(s: TargetState): string {
  switch (s.kind) {
    case 'disconnected':
      return 'Not connected';
    case 'connecting':
      return 'Connecting…';
    case 'running':
      return s.lockup ? 'Locked up (a fault in the fault handler): Halt or Reset' : 'Running';
    case 'halted':
      return `Halted (${s.reason}) · pc 0x${s.pc.toString(16).padStart(8, '0')}`;
    case 'flashing':
      return `${s.erasing ? 'Erasing' : 'Flashing'} ${s.file}`;
    case 'lost':
      return 'Connection lost';
  }
}

function stateDetail(s: TargetState): string {
  switch (s.kind) {
    case 'disconnected':
      return '';
    case 'connecting':
      return s.probe;
    case 'lost':
      return s.reason;
    default:
      return `${s.probe} — ${s.core}`;
  }
}

function stateTitle(s: TargetState): string {
  return [stateLabel(s), stateDetail(s)].filter(Boolean).join(' · ');
}
