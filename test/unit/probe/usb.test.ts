/**
 * The node `usb` path for real probes, against stand-in devices shaped like libusb's as node `usb`
 * presents them, whose CMSIS-DAP endpoints lead to the strict probe model. The stand-ins behave as
 * Linux does with a DAPLink board: the kernel holds the mass-storage interface (so
 * set_configuration fails with BUSY), usbhid holds a v1 probe's HID interface (so it cannot be
 * claimed until detached), and a HID OUT report must be the whole report.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DebugSession } from '../../../core/arm/session';
import { SimulatedProbe } from '../../../core/sim/cmsis-dap-probe';
import { MemoryTarget } from '../../../core/sim/memory-target';

type Cb = (err?: Error, data?: Buffer) => void;

class FakeEndpoint {
  constructor(
    readonly direction: 'in' | 'out',
    readonly transferType: number,
    readonly descriptor: { wMaxPacketSize: number },
    private readonly io: { write(b: Buffer): Promise<void>; read(len: number): Promise<Buffer> },
  ) {}
  transfer(arg: number | Buffer, cb: Cb): void {
    if (this.direction === 'out') this.io.write(arg as Buffer).then(() => cb(), (e: Error) => cb(e));
    else this.io.read(arg as number).then((b) => cb(undefined, b), (e: Error) => cb(e));
  }
}

class FakeInterface {
  claimed = false;
  constructor(
    readonly descriptor: { bInterfaceClass: number; bInterfaceNumber: number; iInterface: number },
    readonly endpoints: FakeEndpoint[],
    public kernelDriver: boolean,
  ) {}
  claim(): void {
    if (this.kernelDriver) throw new Error('LIBUSB_ERROR_BUSY');
    this.claimed = true;
  }
  release(cb: () => void): void {
    this.claimed = false;
    cb();
  }
  isKernelDriverActive(): boolean {
    return this.kernelDriver;
  }
  detachKernelDriver(): void {
    this.kernelDriver = false;
  }
  attachKernelDriver(): void {
    this.kernelDriver = true;
  }
}

class FakeDevice {
  interfaces: FakeInterface[] | undefined;
  private isOpen = false;
  constructor(
    readonly deviceDescriptor: { idVendor: number; idProduct: number; iProduct: number; iSerialNumber: number },
    private readonly strings: Record<number, string>,
    private readonly all: FakeInterface[],
  ) {}
  open(): void {
    this.isOpen = true;
    this.interfaces = this.all;
  }
  close(): void {
    this.isOpen = false;
    this.interfaces = undefined;
  }
  getStringDescriptor(index: number, cb: (err?: Error, value?: string) => void): void {
    if (!this.isOpen) cb(new Error('LIBUSB_ERROR_IO: device not open'));
    else cb(undefined, this.strings[index]);
  }
  setConfiguration(_c: number, cb: (err?: Error) => void): void {
    cb(new Error('LIBUSB_ERROR_BUSY')); // the kernel holds the mass-storage interface
  }
}

/** A probe: the model behind endpoints of the given kind. */
function fakeProbe(options: { kind: 'v2-bulk' | 'v1-hid'; serial: string; product: string; pid?: number }) {
  const model = new SimulatedProbe({ flavour: options.kind, target: new MemoryTarget('cortex-m0') });
  let opened = false;
  const size = options.kind === 'v1-hid' ? 64 : 512;
  const sent: Buffer[] = [];
  const io = {
    async write(b: Buffer) {
      if (!opened) {
        await model.transport.open();
        opened = true;
      }
      // A HID interrupt OUT endpoint takes whole reports only.
      if (options.kind === 'v1-hid' && b.length !== 64) throw new Error(`LIBUSB_ERROR_IO: HID report of ${b.length} bytes, expected 64`);
      sent.push(Buffer.from(b));
      await model.transport.write(new Uint8Array(b));
    },
    async read(len: number) {
      const view = await model.transport.read();
      if (view.byteLength > len) throw new Error('LIBUSB_ERROR_OVERFLOW');
      return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
    },
  };
  const transfer = options.kind === 'v1-hid' ? 3 : 2;
  const msc = new FakeInterface({ bInterfaceClass: 0x08, bInterfaceNumber: 0, iInterface: 0 }, [], true);
  const cdc = new FakeInterface({ bInterfaceClass: 0x02, bInterfaceNumber: 1, iInterface: 0 }, [], true);
  const dap =
    options.kind === 'v2-bulk'
      ? new FakeInterface({ bInterfaceClass: 0xff, bInterfaceNumber: 3, iInterface: 4 }, [new FakeEndpoint('out', transfer, { wMaxPacketSize: size }, io), new FakeEndpoint('in', transfer, { wMaxPacketSize: size }, io)], false)
      : new FakeInterface({ bInterfaceClass: 0x03, bInterfaceNumber: 3, iInterface: 0 }, [new FakeEndpoint('in', transfer, { wMaxPacketSize: size }, io), new FakeEndpoint('out', transfer, { wMaxPacketSize: size }, io)], true);
  const device = new FakeDevice({ idVendor: 0x0d28, idProduct: options.pid ?? 0x0204, iProduct: 2, iSerialNumber: 3 }, { 2: options.product, 3: options.serial, 4: 'CMSIS-DAP v2' }, [msc, cdc, dap]);
  return { device, model, dap, sent };
}

const devices: unknown[] = [];
vi.mock('usb', () => ({ getDeviceList: () => devices }));

async function load() {
  return import('../../../main/probe/usb');
}

afterEach(() => {
  devices.length = 0;
});

describe('real probes through node usb (stand-in devices)', () => {
  it('lists CMSIS-DAP probes by their strings and tells identical ones apart by serial', async () => {
    const a = fakeProbe({ kind: 'v2-bulk', serial: 'A1', product: 'DAPLink CMSIS-DAP' });
    const b = fakeProbe({ kind: 'v2-bulk', serial: 'B2', product: 'DAPLink CMSIS-DAP' });
    const v1 = fakeProbe({ kind: 'v1-hid', serial: 'C3', product: 'LPC-Link CMSIS-DAP', pid: 0x0090 });
    const keyboard = new FakeDevice({ idVendor: 0x046d, idProduct: 0xc31c, iProduct: 2, iSerialNumber: 0 }, { 2: 'USB Keyboard' }, [new FakeInterface({ bInterfaceClass: 3, bInterfaceNumber: 0, iInterface: 0 }, [], true)]);
    devices.push(a.device, keyboard, b.device, v1.device);
    const { openUsbProbe, scanUsb } = await load();
    expect((await scanUsb()).probes.map((p) => [p.selector, p.kind])).toEqual([
      ['0d28:0204:A1', 'v2-bulk'],
      ['0d28:0204:B2', 'v2-bulk'],
      ['0d28:0090:C3', 'v1-hid'],
    ]);
    await expect(openUsbProbe('0d28:0204')).rejects.toThrow('2 probes match 0d28:0204; add the serial number: 0d28:0204:A1, 0d28:0204:B2');
    // One the user may not open (no udev rule): asked for by name, it says why it is missing.
    const locked = fakeProbe({ kind: 'v2-bulk', serial: 'D4', product: 'DAPLink CMSIS-DAP', pid: 0x0205 });
    locked.device.open = () => {
      throw new Error('LIBUSB_ERROR_ACCESS');
    };
    const lockedMouse = new FakeDevice({ idVendor: 0x046d, idProduct: 0xc077, iProduct: 2, iSerialNumber: 0 }, { 2: 'USB Mouse' }, []);
    lockedMouse.open = () => {
      throw new Error('LIBUSB_ERROR_ACCESS');
    };
    devices.push(locked.device, lockedMouse);
    expect((await scanUsb()).probes.length).toBe(3);
    // `dapdeck list` names the probe maker's device it could not open (not every locked device).
    expect((await scanUsb()).unopened).toEqual([{ selector: '0d28:0205', reason: 'LIBUSB_ERROR_ACCESS' }]);
    await expect(openUsbProbe('0d28:0205')).rejects.toThrow('a USB device 0d28:0205 is connected but cannot be opened (LIBUSB_ERROR_ACCESS); on Linux give your user access with a udev rule (see the README)');
    await expect(openUsbProbe('0d28:0204:Z9')).rejects.toThrow(/no CMSIS-DAP probe 0d28:0204:Z9 is connected \(found: 0d28:0204:A1, 0d28:0204:B2, 0d28:0090:C3\)/);
  });

  it('opens the probe with that serial without touching the configuration, and debugs through it (v2 bulk)', async () => {
    const a = fakeProbe({ kind: 'v2-bulk', serial: 'A1', product: 'DAPLink CMSIS-DAP' });
    const b = fakeProbe({ kind: 'v2-bulk', serial: 'B2', product: 'DAPLink CMSIS-DAP' });
    devices.push(a.device, b.device);
    const { openUsbProbe } = await load();
    const { transport, entry } = await openUsbProbe('0d28:0204:B2');
    expect(entry.selector).toBe('0d28:0204:B2');
    const session = await DebugSession.open(transport, { responseTimeoutMs: 1000 });
    expect(transport.packetSize).toBe(512);
    expect(b.dap.claimed).toBe(true);
    const data = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff);
    await session.ap.writeMemory(0x20000123, data);
    expect(Buffer.from(await session.ap.readMemory(0x20000123, data.length))).toEqual(Buffer.from(data));
    expect(b.sent.length).toBeGreaterThan(3);
    expect(a.sent.length).toBe(0); // the other probe of the same model was never written to
    // Bulk packets go out exactly as long as the command.
    expect(b.sent.some((p) => p.length < 512)).toBe(true);
    await session.close();
    expect(b.dap.claimed).toBe(false);
  });

  it('takes a v1 HID probe from usbhid for the session, sends whole reports, and gives it back', async () => {
    const v1 = fakeProbe({ kind: 'v1-hid', serial: 'C3', product: 'LPC-Link CMSIS-DAP', pid: 0x0090 });
    devices.push(v1.device);
    const { openUsbProbe } = await load();
    const { transport } = await openUsbProbe('0d28:0090');
    const session = await DebugSession.open(transport, { responseTimeoutMs: 1000 });
    expect(v1.dap.kernelDriver).toBe(false);
    await session.ap.writeMemory(0x20000000, Uint8Array.of(1, 2, 3, 4, 5));
    expect(Array.from(await session.ap.readMemory(0x20000000, 5))).toEqual([1, 2, 3, 4, 5]);
    expect(v1.sent.every((p) => p.length === 64)).toBe(true);
    await session.close();
    expect(v1.dap.kernelDriver).toBe(true);
  });

  it('writes the bytes of a view, not the buffer under it', async () => {
    const v2 = fakeProbe({ kind: 'v2-bulk', serial: 'A1', product: 'DAPLink CMSIS-DAP' });
    devices.push(v2.device);
    const { openUsbProbe } = await load();
    const { transport } = await openUsbProbe('0d28:0204:A1');
    await transport.open();
    const big = Uint8Array.of(0xee, 0xee, 0x00, 0x04, 0xee); // DAP_Info(0x04 = packet count) in the middle
    await transport.write(big.subarray(2, 4));
    expect(Array.from(v2.sent[0])).toEqual([0x00, 0x04]);
    const answer = new Uint8Array((await transport.read()).buffer);
    expect(answer[0]).toBe(0x00);
    await transport.close();
  });
});
