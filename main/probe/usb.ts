/**
 * Real CMSIS-DAP probes through node `usb` (libusb). A probe is recognised the way the CMSIS-DAP
 * spec asks hosts to: "CMSIS-DAP" in the product string (v1, HID) or in the interface string (v2,
 * a vendor-class interface with a bulk OUT and a bulk IN endpoint).
 *
 * The transport is this project's own rather than dapjs's node `USB` class, which on Linux cannot
 * open a typical DAPLink board: it calls set_configuration on every open, which the kernel refuses
 * (EBUSY) while its drivers hold the board's other interfaces (mass storage, serial port); it leaves
 * usbhid bound to a v1 probe, so the interface cannot be claimed; and it sends HID reports shorter
 * than the report size. Here the configuration is used as it is, only the CMSIS-DAP interface is
 * claimed (its kernel driver detached for the session and given back on close), and a v1 report
 * always goes out whole.
 */
import type { DapTransport } from '../../core/dap/transport';

export interface UsbProbeEntry {
  selector: string;
  vendorId: number;
  productId: number;
  serial: string;
  product: string;
  kind: 'v2-bulk' | 'v1-hid';
}

type UsbModule = typeof import('usb');
type Device = import('usb').usb.Device;
type Interface = import('usb').Interface;
type InEndpoint = import('usb').InEndpoint;
type OutEndpoint = import('usb').OutEndpoint;

const CLASS_HID = 0x03;
const CLASS_VENDOR = 0xff;

async function loadUsb(): Promise<UsbModule | null> {
  try {
    return await import('usb');
  } catch {
    return null;
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

function stringDescriptor(device: Device, index: number): Promise<string> {
  if (!index) return Promise.resolve('');
  return new Promise((resolve) => device.getStringDescriptor(index, (err, value) => resolve(err ? '' : (value ?? ''))));
}

interface Found {
  entry: UsbProbeEntry;
  device: Device;
  interfaceNumber: number;
}

/**
 * The CMSIS-DAP interface of an open device, if it has one: a vendor-class interface with bulk IN
 * and OUT (v2) whose string says CMSIS-DAP (or, without such a string, on a device whose product
 * string does), else the HID interface of a device whose product string says CMSIS-DAP (v1).
 */
async function dapInterface(device: Device, product: string): Promise<{ kind: UsbProbeEntry['kind']; interfaceNumber: number } | null> {
  const interfaces = device.interfaces ?? [];
  const productSays = /CMSIS-DAP/i.test(product);
  const bulkPairs = interfaces.filter((iface) => {
    if (iface.descriptor.bInterfaceClass !== CLASS_VENDOR) return false;
    const bulk = iface.endpoints.filter((e) => e.transferType === 2 /* LIBUSB_TRANSFER_TYPE_BULK */);
    return bulk.some((e) => e.direction === 'in') && bulk.some((e) => e.direction === 'out');
  });
  for (const iface of bulkPairs) {
    if (/CMSIS-DAP/i.test(await stringDescriptor(device, iface.descriptor.iInterface))) return { kind: 'v2-bulk', interfaceNumber: iface.descriptor.bInterfaceNumber };
  }
  if (!productSays) return null;
  if (bulkPairs.length) return { kind: 'v2-bulk', interfaceNumber: bulkPairs[0].descriptor.bInterfaceNumber };
  const hid = interfaces.find((i) => i.descriptor.bInterfaceClass === CLASS_HID);
  return hid ? { kind: 'v1-hid', interfaceNumber: hid.descriptor.bInterfaceNumber } : null;
}

/** Devices that could not be opened to read their strings (usually permissions), by VID:PID. */
type Unopenable = Map<string, string>;

async function findProbes(usb: UsbModule, unopenable: Unopenable = new Map()): Promise<Found[]> {
  let devices: Device[];
  try {
    devices = usb.getDeviceList();
  } catch {
    return []; // no USB subsystem on this machine (containers, CI)
  }
  const found: Found[] = [];
  for (const device of devices) {
    const d = device.deviceDescriptor;
    try {
      device.open();
    } catch (err) {
      // Not ours to open (permissions): not listed rather than guessed, but remembered so that
      // asking for it by VID:PID can say why it is missing.
      unopenable.set(`${hex4(d.idVendor)}:${hex4(d.idProduct)}`, (err as Error).message);
      continue;
    }
    try {
      const product = await stringDescriptor(device, d.iProduct);
      const dap = await dapInterface(device, product);
      if (!dap) continue;
      const serial = await stringDescriptor(device, d.iSerialNumber);
      found.push({
        entry: { selector: `${hex4(d.idVendor)}:${hex4(d.idProduct)}${serial ? `:${serial}` : ''}`, vendorId: d.idVendor, productId: d.idProduct, serial, product, kind: dap.kind },
        device,
        interfaceNumber: dap.interfaceNumber,
      });
    } finally {
      device.close();
    }
  }
  return found;
}

/** Vendors of CMSIS-DAP probes (Arm/DAPLink, NXP, Raspberry Pi, Keil, Microchip, SEGGER, WCH, GigaDevice, Nuvoton). */
const PROBE_VENDORS = new Set([0x0d28, 0x1fc9, 0x2e8a, 0xc251, 0x03eb, 0x1366, 0x1a86, 0x28e9, 0x0416]);

/**
 * The probes, and devices of probe makers that could not be opened to look at (the usual cause
 * is a missing udev rule): listing those says why a probe the user can see on the desk is absent.
 */
export async function scanUsb(): Promise<{ probes: UsbProbeEntry[]; unopened: { selector: string; reason: string }[] }> {
  const usb = await loadUsb();
  if (!usb) return { probes: [], unopened: [] };
  const unopenable: Unopenable = new Map();
  const probes = (await findProbes(usb, unopenable)).map((f) => f.entry);
  const unopened = [...unopenable].filter(([vidPid]) => PROBE_VENDORS.has(parseInt(vidPid.slice(0, 4), 16))).map(([selector, reason]) => ({ selector, reason }));
  return { probes, unopened };
}

/** Open a probe by "VID:PID[:SERIAL]" and return a transport sized to its endpoint. */
export async function openUsbProbe(selector: string): Promise<{ transport: DapTransport; entry: UsbProbeEntry }> {
  const [vid, pid, serial] = selector.split(':');
  const usb = await loadUsb();
  if (!usb) throw new Error(`cannot open ${selector}: the node "usb" module (libusb) is not available on this machine`);
  const unopenable: Unopenable = new Map();
  const probes = await findProbes(usb, unopenable);
  const matches = probes.filter((p) => p.entry.vendorId === parseInt(vid, 16) && p.entry.productId === parseInt(pid, 16) && (!serial || p.entry.serial === serial));
  const denied = unopenable.get(`${hex4(parseInt(vid, 16))}:${hex4(parseInt(pid, 16))}`);
  if (matches.length === 0 && denied) {
    throw new Error(`a USB device ${vid}:${pid} is connected but cannot be opened (${denied}); on Linux give your user access with a udev rule (see the README)`);
  }
  if (matches.length === 0) {
    throw new Error(`no CMSIS-DAP probe ${selector} is connected${probes.length ? ` (found: ${probes.map((p) => p.entry.selector).join(', ')})` : ''}`);
  }
  if (matches.length > 1) {
    throw new Error(`${matches.length} probes match ${selector}; add the serial number: ${matches.map((p) => p.entry.selector).join(', ')}`);
  }
  const { entry, device, interfaceNumber } = matches[0];
  return { transport: new UsbProbeTransport(device, entry, interfaceNumber), entry };
}

/** CMSIS-DAP packets over the probe's own interface: bulk (v2) or HID interrupt reports (v1). */
export class UsbProbeTransport implements DapTransport {
  packetSize: number;
  private iface: Interface | null = null;
  private in: InEndpoint | null = null;
  private out: OutEndpoint | null = null;
  private detached = false;

  constructor(
    private readonly device: Device,
    private readonly entry: UsbProbeEntry,
    private readonly interfaceNumber: number,
  ) {
    // Until opened: the spec's packet sizes (full-speed HID reports, high-speed bulk); the
    // endpoint's own size replaces it on open.
    this.packetSize = entry.kind === 'v1-hid' ? 64 : 512;
  }

  async open(): Promise<void> {
    const name = `${this.entry.product || 'probe'} ${this.entry.selector}`;
    this.device.open();
    try {
      const iface = (this.device.interfaces ?? []).find((i) => i.descriptor.bInterfaceNumber === this.interfaceNumber);
      if (!iface) throw new Error(`${name} has no interface ${this.interfaceNumber} any more`);
      // Linux binds usbhid (v1) or nothing (v2) to the interface; libusb cannot claim it while a
      // kernel driver holds it. Other platforms have no kernel drivers to detach here.
      try {
        if (iface.isKernelDriverActive()) {
          iface.detachKernelDriver();
          this.detached = true;
        }
      } catch {
        // not supported on this platform
      }
      try {
        iface.claim();
      } catch (err) {
        throw new Error(`cannot claim the CMSIS-DAP interface of ${name} (is another debugger using it?): ${(err as Error).message}`);
      }
      this.iface = iface;
      const wanted = this.entry.kind === 'v2-bulk' ? 2 /* bulk */ : 3; /* interrupt */
      this.in = (iface.endpoints.find((e) => e.direction === 'in' && e.transferType === wanted) as InEndpoint | undefined) ?? null;
      this.out = (iface.endpoints.find((e) => e.direction === 'out' && e.transferType === wanted) as OutEndpoint | undefined) ?? null;
      if (!this.in || !this.out) throw new Error(`${name}: the CMSIS-DAP interface lacks an ${this.in ? 'OUT' : 'IN'} endpoint`);
      this.packetSize = this.in.descriptor.wMaxPacketSize || this.packetSize;
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    const iface = this.iface;
    this.iface = this.in = this.out = null;
    if (iface) await new Promise<void>((resolve) => iface.release(() => resolve()));
    if (this.detached) {
      this.detached = false;
      try {
        (this.device.interfaces ?? []).find((i) => i.descriptor.bInterfaceNumber === this.interfaceNumber)?.attachKernelDriver();
      } catch {
        // the driver comes back when the probe is plugged in again
      }
    }
    try {
      this.device.close();
    } catch {
      // already closed (unplugged)
    }
  }

  read(): Promise<DataView> {
    const endpoint = this.in;
    if (!endpoint) return Promise.reject(new Error('read on a closed USB probe'));
    return new Promise((resolve, reject) =>
      endpoint.transfer(this.packetSize, (err, data) => {
        if (err) reject(err);
        else if (!data) reject(new Error('USB read returned no data'));
        else resolve(new DataView(data.buffer, data.byteOffset, data.byteLength));
      }),
    );
  }

  write(data: BufferSource): Promise<void> {
    const endpoint = this.out;
    if (!endpoint) return Promise.reject(new Error('write on a closed USB probe'));
    const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
    // A copy the exact size of what goes on the wire (the caller's bytes may be a view into a
    // larger buffer); a HID report is always the full report size.
    const packet = Buffer.alloc(this.entry.kind === 'v1-hid' ? Math.max(this.packetSize, bytes.length) : bytes.length);
    packet.set(bytes);
    return new Promise((resolve, reject) => endpoint.transfer(packet, (err) => (err ? reject(err) : resolve())));
  }
}
