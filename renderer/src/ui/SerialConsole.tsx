/** A serial console beside RTT: Web Serial in the browser (port, baud, line ending, send). */
import { useRef, useState } from 'react';

type SerialPortLike = {
  open(o: { baudRate: number }): Promise<void>;
  close(): Promise<void>;
  readable: ReadableStream<Uint8Array> | null;
  writable: WritableStream<Uint8Array> | null;
};

export function SerialConsole() {
  const available = typeof navigator !== 'undefined' && 'serial' in navigator;
  const [baud, setBaud] = useState(115200);
  const [ending, setEnding] = useState('\n');
  const [text, setText] = useState('');
  const [log, setLog] = useState('');
  const [open, setOpen] = useState(false);
  const port = useRef<SerialPortLike | null>(null);

  const connect = async () => {
    try {
      const p = (await (navigator as unknown as { serial: { requestPort(): Promise<SerialPortLike> } }).serial.requestPort()) as SerialPortLike;
      await p.open({ baudRate: baud });
      port.current = p;
      setOpen(true);
      const reader = p.readable!.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        setLog((l) => (l + decoder.decode(value)).slice(-200_000));
      }
    } catch (err) {
      setLog((l) => `${l}\n(${(err as Error).message})\n`);
      setOpen(false);
    }
  };

  const sendLine = async () => {
    const w = port.current?.writable?.getWriter();
    if (!w) return;
    await w.write(new TextEncoder().encode(text + ending));
    w.releaseLock();
    setText('');
  };

  if (!available) return <p className="hint">Web Serial is not available in this browser (Chrome or Edge on http://localhost or https). In the desktop app the serial console goes through the main process.</p>;
  return (
    <div className="serial">
      <div className="toolbar">
        <select value={baud} onChange={(e) => setBaud(Number(e.target.value))}>
          {[9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000].map((b) => (
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
        <button onClick={connect} disabled={open}>
          Open port…
        </button>
        <button onClick={() => void port.current?.close().then(() => setOpen(false))} disabled={!open}>
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
