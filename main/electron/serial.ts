/**
 * Serial ports for the desktop app, through node `serialport` in the main process (the renderer
 * never opens devices itself): list, open at a baud rate, write, close; received bytes are pushed
 * to the renderer. Each open port gets a small numeric id the renderer refers to.
 */

export interface SerialPortLike {
  write(data: Buffer, cb?: (err?: Error | null) => void): boolean;
  close(cb?: (err?: Error | null) => void): void;
  on(event: 'data', listener: (data: Buffer) => void): this;
  on(event: 'error' | 'close', listener: (err?: Error) => void): this;
}

export interface SerialPortClass {
  new (options: { path: string; baudRate: number; autoOpen?: boolean }, cb?: (err: Error | null) => void): SerialPortLike;
  list(): Promise<{ path: string; manufacturer?: string; serialNumber?: string; vendorId?: string; productId?: string }[]>;
}

export class SerialService {
  private next = 1;
  private readonly ports = new Map<number, SerialPortLike>();

  constructor(
    private readonly SerialPort: SerialPortClass,
    private readonly emit: (event: { id: number; data?: Uint8Array; closed?: boolean; error?: string }) => void,
  ) {}

  async list(): Promise<{ path: string; description: string }[]> {
    const ports = await this.SerialPort.list();
    return ports.map((p) => ({ path: p.path, description: [p.manufacturer, p.vendorId && p.productId ? `${p.vendorId}:${p.productId}` : '', p.serialNumber].filter(Boolean).join(' ') || p.path }));
  }

  open(path: string, baudRate: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const id = this.next++;
      const port: SerialPortLike = new this.SerialPort({ path, baudRate }, (err) => {
        if (err) return reject(new Error(`cannot open ${path}: ${err.message}`));
        this.ports.set(id, port);
        resolve(id);
      });
      port.on('data', (data: Buffer) => this.emit({ id, data: new Uint8Array(data) }));
      port.on('error', (err?: Error) => this.emit({ id, error: err?.message ?? 'serial error' }));
      port.on('close', () => {
        this.ports.delete(id);
        this.emit({ id, closed: true });
      });
    });
  }

  write(id: number, data: Uint8Array): Promise<void> {
    const port = this.ports.get(id);
    if (!port) return Promise.reject(new Error(`serial port ${id} is not open`));
    return new Promise((resolve, reject) => port.write(Buffer.from(data), (err) => (err ? reject(err) : resolve())));
  }

  close(id: number): Promise<void> {
    const port = this.ports.get(id);
    if (!port) return Promise.resolve();
    return new Promise((resolve) => port.close(() => resolve()));
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.ports.keys()].map((id) => this.close(id)));
  }
}
