/** The desktop app's serial service on serialport's mock binding: list, open, echo, write, close. */
import { describe, expect, it } from 'vitest';
import { SerialPortMock } from 'serialport';
import { SerialService, type SerialPortClass } from '../../../main/electron/serial';

describe('serial service (main process)', () => {
  it('lists, opens, receives, writes and closes', async () => {
    SerialPortMock.binding.reset();
    SerialPortMock.binding.createPort('/dev/ttyMOCK0', { echo: true, record: true, manufacturer: 'Dapdeck' });
    const events: { id: number; data?: Uint8Array; closed?: boolean }[] = [];
    const service = new SerialService(SerialPortMock as unknown as SerialPortClass, (e) => events.push(e));
    expect(await service.list()).toEqual([{ path: '/dev/ttyMOCK0', description: expect.stringContaining('Dapdeck') }]);
    const id = await service.open('/dev/ttyMOCK0', 115200);
    await service.write(id, new TextEncoder().encode('ping\n'));
    const deadline = Date.now() + 2000;
    while (!events.some((e) => e.data) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const echoed = events.filter((e) => e.id === id && e.data).map((e) => new TextDecoder().decode(e.data));
    expect(echoed.join('')).toBe('ping\n'); // the mock port echoes what was written
    await service.close(id);
    await expect(service.write(id, Uint8Array.of(1))).rejects.toThrow(`serial port ${id} is not open`);
    await expect(service.open('/dev/ttyNOPE', 9600)).rejects.toThrow(/cannot open \/dev\/ttyNOPE/);
  });
});
