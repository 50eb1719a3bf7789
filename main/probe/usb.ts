/**
 * Real CMSIS-DAP probes through node `usb` (libusb). A probe is recognised the way the CMSIS-DAP
 * spec asks hosts to: "CMSIS-DAP" in the product string (v1 HID or v2 vendor-class bulk interface).
 */
import * as dapjsModule from 'dapjs';
import type { DapTransport } from '../../core/dap/transport';

export interface UsbProbeEntry {
  selector: string;
  vendorId: number;
  productId: number;
  serial: string;
  product: string;
  kind: 'v2-bulk' | 'v1-hid';
}

// dapjs is a UMD bundle: depending on the loader its exports arrive as the namespace or as `default`.
const dapjs = ((dapjsModule as unknown as { default?: typeof dapjsModule }).default ?? dapjsModule) as typeof dapjsModule;

type UsbModule = typeof import('usb');

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

export async function listUsbProbes(): Promise<UsbProbeEntry[]> {
  const usb = await loadUsb();
  if (!usb) return [];
  let devices: import('usb').usb.Device[];
  try {
    devices = usb.getDeviceList();
  } catch {
    return []; // no USB subsystem on this machine (containers, CI)
  }
  const found: UsbProbeEntry[] = [];
  for (const device of devices) {
    const d = device.deviceDescriptor;
    try {
      device.open();
    } catch {
      continue; // not ours to open (permissions); not listed rather than guessed
    }
    try {
      const product = await stringDescriptor(device, d.iProduct);
      if (!/CMSIS-DAP/i.test(product)) continue;
      const serial = await stringDescriptor(device, d.iSerialNumber);
      const bulk = device.interfaces?.some((i) => i.descriptor.bInterfaceClass === 0xff && i.endpoints.length >= 2) ?? false;
      found.push({
        selector: `${hex4(d.idVendor)}:${hex4(d.idProduct)}${serial ? `:${serial}` : ''}`,
        vendorId: d.idVendor,
        productId: d.idProduct,
        serial,
        product,
        kind: bulk ? 'v2-bulk' : 'v1-hid',
      });
    } finally {
      device.close();
    }
  }
  return found;
}

function stringDescriptor(device: import('usb').usb.Device, index: number): Promise<string> {
  if (!index) return Promise.resolve('');
  return new Promise((resolve) => device.getStringDescriptor(index, (err, value) => resolve(err ? '' : (value ?? ''))));
}

/** Open a probe by "VID:PID[:SERIAL]" and return a transport sized to its endpoint. */
export async function openUsbProbe(selector: string): Promise<{ transport: DapTransport; entry: UsbProbeEntry }> {
  const [vid, pid, serial] = selector.split(':');
  const probes = await listUsbProbes();
  const entry = probes.find(
    (p) => p.vendorId === parseInt(vid, 16) && p.productId === parseInt(pid, 16) && (!serial || p.serial === serial),
  );
  if (!entry) {
    throw new Error(`no CMSIS-DAP probe ${selector} is connected${probes.length ? ` (found: ${probes.map((p) => p.selector).join(', ')})` : ''}`);
  }
  const usb = (await loadUsb())!;
  const device = usb.getDeviceList().find((dev) => dev.deviceDescriptor.idVendor === entry.vendorId && dev.deviceDescriptor.idProduct === entry.productId)!;
  // dapjs's USB transport hard-codes 64-byte packets; a v2 high-speed probe takes 512 (its bulk
  // endpoint's wMaxPacketSize), which DAP_Info 0xFF confirms after open.
  const transport = new dapjs.USB(device, entry.kind === 'v2-bulk' ? 0xff : 0x03) as unknown as DapTransport & { packetSize: number };
  if (entry.kind === 'v2-bulk') {
    device.open();
    const iface = device.interfaces?.find((i) => i.descriptor.bInterfaceClass === 0xff);
    const max = iface?.endpoints.find((e) => e.direction === 'in')?.descriptor.wMaxPacketSize;
    device.close();
    if (max) transport.packetSize = max;
  }
  return { transport, entry };
}
