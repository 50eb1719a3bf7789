/**
 * A serial console beside RTT: in the desktop app through node `serialport` in the main process
 * (window.dapdeck.serial); in the browser through Web Serial. Port, baud, line ending, send.
 */
import { useEffect, useRef, useState } from 'react';

interface SerialBridge {
  list(): Promise<{ path: string; description: string }[]>;
  open(path: string, baudRate: number): Promise<number>;
  write(id: number, data: Uint8Array): Promise<void>;
  close(id: number): Promise<void>;
  onEvent(listener: (event: { id: number; data?: Uint8Array; closed?: boolean; error?: string }) => void): () => void;
}

type WebSerialPort = {
  open(o: { baudRate: number }): Promise<void>;
  close(): Promise<void>;
  readable: ReadableStream<Uint8Array> | null;
  writable: WritableStream<Uint8Array> | null;
};

const bridge = (window as unknown as { dapdeck?: { serial?: SerialBridge } }).dapdeck?.serial;
const BAUDS = [9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000];

export function SerialConsole() {
  const webSerial = typeof navigator !== 'undefined' && 'serial' in navigator;
  const [baud, setBaud] = useState(115200);
  const [ending, setEnding] = useState('\n');
  const [text, setText] = useState('');
  const [log, setLog] = useState('');
  const [open, setOpen] = useState(false);
  const [ports, setPorts] = useState<{ path: string; description: string }[]>([]);
  const [path, setPath] = useState('');
  const bridgeId = useRef<number | null>(null);
  const webPort = useRef<WebSerialPort | null>(null);
  const append = (s: string) => setLog((l) => (l + s).slice(-200_000));

  useEffect(() => {
    if (!bridge) return;
    void bridge.list().then((p) => {
      setPorts(p);
      if (p[0]) setPath(p[0].path);
    });
    const decoder = new TextDecoder();
    return bridge.onEvent((e) => {
      if (e.id !== bridgeId.current) return;
      if (e.data) append(decoder.decode(e.data, { stream: true }));
      if (e.error) append(`\n(${e.error})\n`);
      if (e.closed) setOpen(false);
    });
  }, []);

  const connect = async () => {
    try {
      if (bridge) {
        bridgeId.current = await bridge.open(path, baud);
        setOpen(true);
        return;
      }
      const p = (await (navigator as unknown as { serial: { requestPort(): Promise<WebSerialPort> } }).serial.requestPort()) as WebSerialPort;
      await p.open({ baudRate: baud });
      webPort.current = p;
      setOpen(true);
      const reader = p.readable!.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        append(decoder.decode(value, { stream: true }));
      }
    } catch (err) {
      append(`\n(${(err as Error).message})\n`);
      setOpen(false);
    }
  };

  const disconnect = async () => {
    if (bridge && bridgeId.current !== null) await bridge.close(bridgeId.current);
    else await webPort.current?.close();
    setOpen(false);
  };

  const sendLine = async () => {
    const data = new TextEncoder().encode(text + ending);
    if (bridge && bridgeId.current !== null) await bridge.write(bridgeId.current, data);
    else {
      const w = webPort.current?.writable?.getWriter();
      if (!w) return;
      await w.write(data);
      w.releaseLock();
    }
    setText('');
  };

  if (!bridge && !webSerial) return <p className="hint">Web Serial is not available in this browser (Chrome or Edge on http://localhost or https). The desktop app opens serial ports through its main process.</p>;
  return (
    <div className="serial">
      <div className="toolbar">
        {bridge && (
          <select value={path} onChange={(e) => setPath(e.target.value)} disabled={open}>
            {ports.map((p) => (
              <option key={p.path} value={p.path}>
                {p.path} {p.description !== p.path ? `— ${p.description}` : ''}
              </option>
            ))}
          </select>
        )}
        <select value={baud} onChange={(e) => setBaud(Number(e.target.value))} disabled={open}>
          {BAUDS.map((b) => (
            <option key={b} value={b}>
              {b}
            </option>
          ))}
        </select>
        <select value={ending} onChange={(e) => setEnding(e.target.value)}>
          <option value={'\n'}>LF</option>
          <option value={'\r\n'}>CRLF</option>
          <option value={'\r'}>CR</option>
          <option value={''}>none</option>
        </select>
        <button onClick={connect} disabled={open || (!!bridge && !path)}>
          {bridge ? 'Open' : 'Open port…'}
        </button>
        <button onClick={() => void disconnect()} disabled={!open}>
          Close
        </button>
      </div>
      <pre className="serial-log">{log}</pre>
      <form
        className="send"
        onSubmit={(e) => {
          e.preventDefault();
          void sendLine();
        }}
      >
        <input value={text} onChange={(e) => setText(e.target.value)} placeholder="send" disabled={!open} />
        <button type="submit" disabled={!open}>
          Send
        </button>
      </form>
    </div>
  );
}
