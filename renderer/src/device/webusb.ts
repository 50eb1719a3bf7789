/**
 * CMSIS-DAP v2 over WebUSB: the probe's vendor-specific interface (class 0xFF) with a bulk OUT and
 * a bulk IN endpoint; one command packet per OUT transfer, one response per IN transfer. Runs on
 * the page's thread (where the user picks the device); the device worker reaches it through a
 * MessagePort (PortTransport), so decoding still happens off the UI thread.
 */
import type { DapTransport } from '../../../core/dap/transport';

export const CMSIS_DAP_FILTERS: USBDeviceFilter[] = [{ classCode: 0xff }];

export class WebUsbTransport implements DapTransport {
  packetSize = 64;
  private interfaceNumber = -1;
  private out = 0;
  private in = 0;

  constructor(readonly device: USBDevice) {}

  get description(): string {
    const maker = this.device.manufacturerName ?? '';
    const product = this.device.productName ?? 'USB probe';
    // Many probes repeat the maker in the product name ("ARM" / "ARM DAPLink CMSIS-DAP").
    return product.toLowerCase().startsWith(maker.toLowerCase()) ? product : `${maker} ${product}`.trim();
  }

  async open(): Promise<void> {
    const d = this.device;
    if (!d.opened) await d.open();
    if (!d.configuration) await d.selectConfiguration(1);
    // Vendor-class interfaces with bulk IN and OUT; the spec names the CMSIS-DAP one ("CMSIS-DAP"
    // in its interface string), which matters on boards with other vendor interfaces.
    const candidates = d.configuration!.interfaces.flatMap((iface) => {
      const alt = iface.alternates[0];
      const bulkIn = alt.endpoints.find((e) => e.type === 'bulk' && e.direction === 'in');
      const bulkOut = alt.endpoints.find((e) => e.type === 'bulk' && e.direction === 'out');
      return alt.interfaceClass === 0xff && bulkIn && bulkOut ? [{ iface, alt, bulkIn, bulkOut }] : [];
    });
    const chosen = candidates.find((c) => /CMSIS-DAP/i.test(c.alt.interfaceName ?? '')) ?? candidates[0];
    if (chosen) {
      this.interfaceNumber = chosen.iface.interfaceNumber;
      this.in = chosen.bulkIn.endpointNumber;
      this.out = chosen.bulkOut.endpointNumber;
      this.packetSize = chosen.bulkIn.packetSize;
    }
    if (this.interfaceNumber < 0) throw new Error(`${this.description}: no CMSIS-DAP v2 interface (vendor class with bulk IN/OUT); CMSIS-DAP v1 (HID) probes need WebHID`);
    await d.claimInterface(this.interfaceNumber);
  }

  async close(): Promise<void> {
    if (this.device.opened) {
      if (this.interfaceNumber >= 0) await this.device.releaseInterface(this.interfaceNumber).catch(() => undefined);
      await this.device.close().catch(() => undefined);
    }
  }

  async write(data: BufferSource): Promise<void> {
    const r = await this.device.transferOut(this.out, data);
    if (r.status !== 'ok') throw new Error(`USB OUT transfer failed: ${r.status}`);
  }

  async read(): Promise<DataView> {
    const r = await this.device.transferIn(this.in, this.packetSize);
    if (r.status !== 'ok' || !r.data) throw new Error(`USB IN transfer failed: ${r.status}`);
    return r.data;
  }
}

type PortOp = { op: 'write'; data: ArrayBuffer } | { op: 'read' } | { op: 'close' };
type PortRequest = PortOp & { id: number };
type PortReply = { id: number; data?: ArrayBuffer; error?: string };

/**
 * Page side: serve a transport's writes and reads to the worker over a MessagePort. `retire()`
 * hands the device over to a newer port: this one's reads and writes then fail and its close
 * leaves the device alone, so a session being replaced cannot disturb the one replacing it.
 */
export function exposeTransport(transport: DapTransport, port: MessagePort): { retire(): void } {
  let retired = false;
  port.onmessage = async (event: MessageEvent<PortRequest>) => {
    const m = event.data;
    if (retired) {
      port.postMessage((m.op === 'close' ? { id: m.id } : { id: m.id, error: 'the probe was reconnected' }) satisfies PortReply);
      return;
    }
    try {
      if (m.op === 'write') {
        await transport.write(m.data);
        port.postMessage({ id: m.id } satisfies PortReply);
      } else if (m.op === 'read') {
        const v = await transport.read();
        const copy = v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) as ArrayBuffer;
        port.postMessage({ id: m.id, data: copy } satisfies PortReply, [copy]);
      } else {
        await transport.close();
        port.postMessage({ id: m.id } satisfies PortReply);
      }
    } catch (err) {
      port.postMessage({ id: m.id, error: (err as Error).message } satisfies PortReply);
    }
  };
  return {
    retire: () => {
      retired = true;
    },
  };
}

/** Worker side: a DapTransport whose bytes travel over a MessagePort to the page's USB device. */
export class PortTransport implements DapTransport {
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (r: PortReply) => void }>();
  // Reads and writes each stay in order; writes may run ahead of reads (pipelining), as on USB.
  private writes: Promise<unknown> = Promise.resolve();
  private reads: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly port: MessagePort,
    readonly packetSize: number,
  ) {
    port.onmessage = (event: MessageEvent<PortReply>) => {
      this.waiting.get(event.data.id)?.resolve(event.data);
      this.waiting.delete(event.data.id);
    };
  }

  private call(request: PortOp, transfer: Transferable[] = []): Promise<PortReply> {
    const id = this.next++;
    return new Promise<PortReply>((resolve) => {
      this.waiting.set(id, { resolve });
      this.port.postMessage({ ...request, id }, transfer);
    }).then((r) => {
      if (r.error) throw new Error(r.error);
      return r;
    });
  }

  async open(): Promise<void> {}

  async close(): Promise<void> {
    await this.call({ op: 'close' }).catch(() => undefined);
  }

  write(data: BufferSource): Promise<void> {
    const bytes = data instanceof ArrayBuffer ? data.slice(0) : (new Uint8Array((data as ArrayBufferView).buffer, (data as ArrayBufferView).byteOffset, (data as ArrayBufferView).byteLength).slice().buffer as ArrayBuffer);
    const p = this.writes.then(() => this.call({ op: 'write', data: bytes }, [bytes]));
    this.writes = p.catch(() => undefined);
    return p.then(() => undefined);
  }

  read(): Promise<DataView> {
    const p = this.reads.then(() => this.call({ op: 'read' }));
    this.reads = p.catch(() => undefined);
    return p.then((r) => new DataView(r.data!));
  }
}

/** CMSIS-DAP v1 probes: vendor-defined HID (usage page 0xFF00), fixed 64-byte reports. */
export const CMSIS_DAP_HID_FILTERS: HIDDeviceFilter[] = [{ usagePage: 0xff00 }];

/**
 * CMSIS-DAP v1 over WebHID: each command goes out as one output report padded to the report size;
 * each response arrives as one input report (also padded: the command byte tells how much is real).
 */
export class WebHidTransport implements DapTransport {
  readonly packetSize = 64;
  private readonly responses: DataView[] = [];
  private readonly waiters: ((v: DataView) => void)[] = [];
  private readonly onReport = (e: HIDInputReportEvent) => {
    const w = this.waiters.shift();
    if (w) w(e.data);
    else this.responses.push(e.data);
  };

  constructor(readonly device: HIDDevice) {}

  get description(): string {
    return this.device.productName || 'HID probe';
  }

  async open(): Promise<void> {
    if (!this.device.opened) await this.device.open();
    this.device.addEventListener('inputreport', this.onReport);
  }

  async close(): Promise<void> {
    this.device.removeEventListener('inputreport', this.onReport);
    if (this.device.opened) await this.device.close();
  }

  async write(data: BufferSource): Promise<void> {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array((data as ArrayBufferView).buffer, (data as ArrayBufferView).byteOffset, (data as ArrayBufferView).byteLength);
    const report = new Uint8Array(this.packetSize);
    report.set(bytes.subarray(0, this.packetSize));
    await this.device.sendReport(0, report);
  }

  read(): Promise<DataView> {
    const ready = this.responses.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
