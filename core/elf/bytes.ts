/**
 * Little-endian reads with a bounds check, for the binary formats the project parses (DWARF, defmt
 * frames). Each format says what running out of bytes means to it by its own `overrun`.
 */
export abstract class ByteReader {
  constructor(
    public b: Uint8Array,
    public o = 0,
    /** Reads stop here (a frame may be a region of a larger buffer). */
    public end = b.length,
  ) {}

  protected abstract overrun(n: number): never;

  need(n: number): void {
    if (this.o + n > this.end) this.overrun(n);
  }
  u8(): number {
    this.need(1);
    return this.b[this.o++];
  }
  u16(): number {
    this.need(2);
    const v = this.b[this.o] | (this.b[this.o + 1] << 8);
    this.o += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const b = this.b;
    const o = this.o;
    this.o += 4;
    return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
  }
}
