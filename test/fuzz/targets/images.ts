/** Intel HEX, raw BIN and UF2 images (core/elf loadImage). */
import { ImageError, loadImage, type FlashImage } from '../../../core/elf';
import { int, pick, rng, type FuzzTarget } from '../harness';
import { uf2FromImage } from '../../support/uf2';

/** One record, :LLAAAATT<data>CC, CC the two's complement of the byte sum (Intel HEX spec). */
export function hexRecord(type: number, address: number, data: ArrayLike<number>): string {
  const bytes = [data.length, (address >> 8) & 0xff, address & 0xff, type, ...Array.from(data)];
  const sum = (0x100 - (bytes.reduce((a, b) => a + b, 0) & 0xff)) & 0xff;
  return ':' + [...bytes, sum].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join('');
}

function hexFile(base: number, length: number, seed: number, segment = false): string {
  const r = rng(seed);
  const lines: string[] = [];
  let upper = -1;
  for (let at = 0; at < length; at += 16) {
    const address = base + at;
    if (!segment && address >>> 16 !== upper) {
      upper = address >>> 16;
      lines.push(hexRecord(4, 0, [upper >> 8, upper & 0xff]));
    }
    const n = Math.min(16, length - at);
    lines.push(hexRecord(0, segment ? at : address & 0xffff, Array.from({ length: n }, () => int(r, 256))));
  }
  if (segment) lines.unshift(hexRecord(2, 0, [(base >> 12) & 0xff, (base >> 4) & 0xff]));
  lines.push(hexRecord(5, 0, [0, 0, 1, 0x01]));
  lines.push(hexRecord(1, 0, []));
  return lines.join('\n') + '\n';
}

const enc = (text: string) => new TextEncoder().encode(text);
const dec = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** What a correct reader must refuse, judged line by line from the spec (independently of the reader). */
function hexInvalidity(text: string): string | null {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  if (!lines.length) return 'no records';
  let eof = false;
  let dataBytes = 0;
  for (const line of lines) {
    if (eof) return 'a record after EOF';
    const m = /^:((?:[0-9a-fA-F]{2})+)$/.exec(line);
    if (!m) return `not a record: ${line.slice(0, 20)}`;
    const bytes = m[1].match(/../g)!.map((h) => parseInt(h, 16));
    if (bytes.length < 5 || bytes[0] + 5 !== bytes.length) return 'length byte disagrees with the record';
    if (bytes.reduce((a, b) => a + b, 0) & 0xff) return 'checksum';
    const type = bytes[3];
    if (type > 5) return `record type ${type}`;
    if (type === 0) dataBytes += bytes[0];
    if (type === 1) eof = true;
  }
  if (!eof) return 'no EOF record';
  if (dataBytes === 0) return 'no data bytes';
  return null;
}

function checkImage(image: FlashImage): void {
  let end = -1;
  for (const c of image.chunks) {
    if (c.address < end) throw new Error(`chunks overlap at 0x${c.address.toString(16)}`);
    if (c.address < 0 || c.address + c.data.length > 2 ** 32 || c.data.length === 0) throw new Error(`chunk 0x${c.address.toString(16)}+${c.data.length} outside 4 GiB or empty`);
    end = c.address + c.data.length;
  }
}

export const hexTarget: FuzzTarget<FlashImage> = {
  name: 'intel-hex',
  description: 'Intel HEX records: types 00-05, checksums, lengths, extended linear/segment addresses, EOF',
  shortIterations: 3000,
  seeds: () => [hexFile(0, 100, 1), hexFile(0x0800fff0, 64, 2), hexFile(0x90000000, 300, 3), hexFile(0xffffff00, 256, 4), hexFile(0x12340, 48, 5, true)].map(enc),
  mutate(input, { rng: r }) {
    // Mutate one record's fields and recompute its checksum, so mutations get past the checksum.
    const lines = dec(input).split('\n');
    const i = int(r, lines.length);
    const m = /^:((?:[0-9a-fA-F]{2})+)$/.exec(lines[i].trim());
    if (!m) return input;
    const bytes = m[1].match(/../g)!.map((h) => parseInt(h, 16)).slice(0, -1);
    if (bytes.length < 4) return input;
    const field = int(r, 4);
    if (field === 0) bytes[3] = pick(r, [0, 1, 2, 3, 4, 5, 6, 0xff]);
    else if (field === 1) bytes[1] = pick(r, [0, 0xff, 0x80]);
    else if (field === 2 && bytes.length > 4) bytes[4] = pick(r, [0, 0x7f, 0x80, 0xff]);
    else bytes.splice(4, int(r, 3));
    lines[i] = hexRecord(bytes[3], (bytes[1] << 8) | bytes[2], bytes.slice(4));
    if (r() < 0.2) lines.splice(int(r, lines.length), 0, lines[i]);
    return enc(lines.join('\n'));
  },
  run: (input) => loadImage(input, 'fuzz.hex', { format: 'hex' }),
  expectedErrors: [ImageError],
  knownInvalid: (input) => hexInvalidity(dec(input)),
  check: checkImage,
};

/** Input: a 4-byte little-endian base address, then the image bytes. */
export const binTarget: FuzzTarget<FlashImage> = {
  name: 'bin',
  description: 'raw binary at a base address (--base)',
  shortIterations: 1000,
  seeds: () => [Uint8Array.of(0, 0, 0, 0, 1, 2, 3, 4), Uint8Array.of(0xf0, 0xff, 0xff, 0xff, ...new Array(16).fill(0xaa)), Uint8Array.of(0, 0, 0, 0x08, ...new Array(300).fill(7))],
  run(input) {
    const base = input.length >= 4 ? new DataView(input.buffer, input.byteOffset).getUint32(0, true) : 0;
    return loadImage(input.subarray(4), 'fuzz.bin', { format: 'bin', base });
  },
  expectedErrors: [ImageError],
  knownInvalid(input) {
    const data = Math.max(0, input.length - 4);
    const base = input.length >= 4 ? new DataView(input.buffer, input.byteOffset).getUint32(0, true) : 0;
    if (data === 0) return 'no bytes';
    if (base + data > 2 ** 32) return 'past 4 GiB';
    return null;
  },
  check(image, input) {
    checkImage(image);
    if (image.chunks[0].address !== new DataView(input.buffer, input.byteOffset).getUint32(0, true)) throw new Error('image not at its base');
  },
};

/** What a UF2 reader must refuse, judged block by block from Microsoft's spec (independently of the reader). */
function uf2Invalidity(bytes: Uint8Array): string | null {
  if (bytes.length === 0 || bytes.length % 512 !== 0) return 'not whole 512-byte blocks';
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let o = 0; o < bytes.length; o += 512) {
    if (v.getUint32(o, true) !== 0x0a324655 || v.getUint32(o + 4, true) !== 0x9e5d5157 || v.getUint32(o + 508, true) !== 0x0ab16f30) return `magic of block ${o / 512}`;
    if (v.getUint32(o + 16, true) > 476) return `payload of block ${o / 512}`;
  }
  return null;
}

const RP2040_FAMILY = 0xe48bff56;

export const uf2Target: FuzzTarget<FlashImage> = {
  name: 'uf2',
  description: 'UF2 blocks (magics, flags, payload sizes, block numbers and counts, family IDs) checked against an RP2040',
  shortIterations: 2000,
  seeds: () => {
    const image = (base: number, length: number, seed: number) => {
      const r = rng(seed);
      return { chunks: [{ address: base, data: Uint8Array.from({ length }, () => int(r, 256)), source: 'seed' }] } as unknown as FlashImage;
    };
    const plain = uf2FromImage(image(0x10000000, 700, 1), RP2040_FAMILY);
    return [plain, uf2FromImage(image(0, 300, 2)), new Uint8Array([...uf2FromImage(image(0, 256, 3), 0xada52840), ...plain])];
  },
  mutate(input, { rng: r }) {
    if (input.length < 512) return input;
    const out = input.slice();
    const v = new DataView(out.buffer);
    // Whole blocks only (the generic mutations may have cut the file anywhere).
    const block = int(r, Math.floor(out.length / 512)) * 512;
    const action = int(r, 4);
    if (action === 0) {
      // One header field to an odd value: flags, address, size, number, count, family.
      const field = pick(r, [8, 12, 16, 20, 24, 28]);
      v.setUint32(block + field, pick(r, [0, 1, 0x1000, 0x2000, 0x2001, 255, 256, 476, 477, 0xffffffff, 0xfffffe00, RP2040_FAMILY, int(r, 64)]), true);
      return out;
    }
    if (action === 1) return new Uint8Array([...out.subarray(0, block), ...out.subarray(block + 512)]); // a block dropped
    if (action === 2) return new Uint8Array([...out, ...out.subarray(block, block + 512)]); // a block repeated
    return out.subarray(0, Math.max(0, out.length - 1 - int(r, 600))); // truncated
  },
  run: (input) => loadImage(input, 'fuzz.uf2', { format: 'uf2', chip: { name: 'RP2040', families: [RP2040_FAMILY] } }),
  expectedErrors: [ImageError],
  knownInvalid: uf2Invalidity,
  check: checkImage,
  timeLimitMs: 2000,
};
