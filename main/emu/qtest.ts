/**
 * QEMU's qtest protocol (one text command per line, "OK …" or "FAIL …" back) as a second bus
 * master beside the CPU: what a debugger's AHB-AP is on silicon. The GDB stub cannot stand in for
 * it: its writes skip every device (peripheral registers keep their values, flash ignores the
 * NVMC), while qtest's go through the board's own models, so an NVMC ERASEPAGE written here erases
 * the page and a flash write needs CONFIG.WEN, as on a real nRF51. Runs beside TCG (`-accel tcg`),
 * also while the guest runs.
 */
import { createConnection, type Socket } from 'node:net';

export class Qtest {
  private buffer = '';
  private waiters: ((line: string) => void)[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buffer += d;
      for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        this.waiters.shift()?.(line);
      }
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w('FAIL qtest socket closed');
    });
    socket.on('error', () => undefined);
  }

  static connect(path: string): Promise<Qtest> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      socket.once('connect', () => resolve(new Qtest(socket)));
      socket.once('error', reject);
    });
  }

  /** One command; resolves with what follows "OK" (throws on FAIL). */
  command(line: string): Promise<string> {
    const run = this.chain.then(
      () =>
        new Promise<string>((resolve, reject) => {
          if (this.closed) return reject(new Error('qtest: QEMU has gone'));
          this.waiters.push((reply) => (reply.startsWith('OK') ? resolve(reply.slice(2).trim()) : reject(new Error(`qtest: ${line} -> ${reply}`))));
          this.socket.write(`${line}\n`);
        }),
    );
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Bus writes of `data`: words where aligned, else halfwords/bytes, as an AHB-AP would issue them. */
  async write(address: number, data: Uint8Array): Promise<void> {
    for (let i = 0; i < data.length; ) {
      const a = address + i;
      const left = data.length - i;
      if (a % 4 === 0 && left >= 4) {
        const v = (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)) >>> 0;
        await this.command(`writel 0x${a.toString(16)} 0x${v.toString(16)}`);
        i += 4;
      } else if (a % 2 === 0 && left >= 2) {
        await this.command(`writew 0x${a.toString(16)} 0x${(data[i] | (data[i + 1] << 8)).toString(16)}`);
        i += 2;
      } else {
        await this.command(`writeb 0x${a.toString(16)} 0x${data[i].toString(16)}`);
        i += 1;
      }
    }
  }

  /** Plain memory (RAM) in one command: `write ADDR SIZE 0xHEX`. */
  async writeBulk(address: number, data: Uint8Array): Promise<void> {
    if (data.length === 0) return;
    await this.command(`write 0x${address.toString(16)} 0x${data.length.toString(16)} 0x${Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex')}`);
  }

  async readWord(address: number): Promise<number> {
    return Number(BigInt(await this.command(`readl 0x${address.toString(16)}`)) & 0xffffffffn) >>> 0;
  }

  async writeWord(address: number, value: number): Promise<void> {
    await this.command(`writel 0x${address.toString(16)} 0x${(value >>> 0).toString(16)}`);
  }

  /** Bulk read (`read ADDR SIZE` answers 0x + hex). */
  async read(address: number, length: number): Promise<Uint8Array> {
    const hex = await this.command(`read 0x${address.toString(16)} 0x${length.toString(16)}`);
    return Uint8Array.from(Buffer.from(hex.replace(/^0x/, ''), 'hex'));
  }

  close(): void {
    this.socket.destroy();
  }
}
