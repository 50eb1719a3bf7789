/**
 * Intel HEX (Intel "Hexadecimal Object File Format Specification", rev. A, 1988): records
 * `:LLAAAATT<data>CC`, CC the two's complement of the byte sum; types 00 data, 01 end of file,
 * 02 extended segment address (base = value × 16), 03 start segment address, 04 extended linear
 * address (the upper 16 bits of a 32-bit address), 05 start linear address.
 *
 * Read here rather than through nrf-intel-hex, whose parser builds each extended linear address
 * with a signed 32-bit shift: every address from 0x80000000 up came out negative and was refused
 * ("Address passed to MemoryMap is negative"), though Cortex-M parts map flash there (external
 * QSPI flash at 0x90000000, for one).
 */
import { FlashImage, ImageError, type ImageChunk } from './image';

/** Records of one contiguous run, joined into one chunk when the run ends. */
interface Run {
  address: number;
  parts: Uint8Array[];
  length: number;
  line: number;
}

export function imageFromHex(text: string, name: string): FlashImage {
  const fail = (line: number, detail: string): never => {
    throw new ImageError(`${name}: invalid Intel HEX at line ${line}: ${detail}`);
  };
  const chunks: ImageChunk[] = [];
  let run: Run | null = null;
  const flush = () => {
    if (run && run.length > 0) {
      const data = new Uint8Array(run.length);
      let o = 0;
      for (const p of run.parts) {
        data.set(p, o);
        o += p.length;
      }
      chunks.push({ address: run.address, data, source: `HEX data from line ${run.line}` });
    }
    run = null;
  };
  let linear = 0; // extended linear address (type 04), already shifted
  let segment = 0; // extended segment address (type 02), already × 16
  let sawEof = false;
  let records = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i].trim();
    if (line === '') continue;
    if (sawEof) fail(lineNo, 'a record after the end-of-file record');
    if (line[0] !== ':') fail(lineNo, `a record starts with ':', not ${JSON.stringify(line.slice(0, 8))}`);
    if (line.length < 11 || line.length % 2 !== 1 || !/^:[0-9a-fA-F]+$/.test(line)) fail(lineNo, 'a record is an even number of hex digits (at least 10) after the colon');
    const bytes = new Uint8Array((line.length - 1) / 2);
    for (let b = 0; b < bytes.length; b++) bytes[b] = parseInt(line.substr(1 + 2 * b, 2), 16);
    const count = bytes[0];
    if (bytes.length !== count + 5) fail(lineNo, `the record says ${count} data bytes but holds ${bytes.length - 5}`);
    const sum = bytes.reduce((a, b) => a + b, 0) & 0xff;
    if (sum !== 0) fail(lineNo, `checksum 0x${bytes[bytes.length - 1].toString(16).padStart(2, '0')} is wrong (expected 0x${((0x100 - ((sum - bytes[bytes.length - 1]) & 0xff)) & 0xff).toString(16).padStart(2, '0')})`);
    records++;
    const offset = (bytes[1] << 8) | bytes[2];
    const type = bytes[3];
    const data = bytes.subarray(4, 4 + count);
    switch (type) {
      case 0: {
        if (count === 0) break;
        let address: number;
        if (segment !== 0) {
          // Segment addressing wraps inside its 64 KiB (spec: (SBA + ([DRLO + DRI] MOD 64K))).
          if (offset + count > 0x10000) fail(lineNo, `data at offset 0x${offset.toString(16)} wraps past 0xFFFF inside segment 0x${(segment >>> 4).toString(16)}`);
          address = segment + offset;
        } else address = linear + offset;
        if (address + count > 2 ** 32) fail(lineNo, `data at 0x${address.toString(16)} runs past the end of the 32-bit address space`);
        const current = run as Run | null;
        if (current && current.address + current.length === address) {
          current.parts.push(data);
          current.length += count;
        } else {
          flush();
          run = { address, parts: [data], length: count, line: lineNo };
        }
        break;
      }
      case 1:
        if (count !== 0) fail(lineNo, 'the end-of-file record carries data');
        sawEof = true;
        break;
      case 2:
      case 4:
        if (count !== 2) fail(lineNo, `an extended ${type === 2 ? 'segment' : 'linear'} address record holds 2 bytes, not ${count}`);
        if (type === 2) {
          segment = ((data[0] << 8) | data[1]) * 16;
          linear = 0;
        } else {
          linear = ((data[0] << 8) | data[1]) * 0x10000; // multiply, not << 16: stays unsigned
          segment = 0;
        }
        break;
      case 3:
      case 5:
        if (count !== 4) fail(lineNo, `a start address record holds 4 bytes, not ${count}`);
        break;
      default:
        fail(lineNo, `record type 0x${type.toString(16).padStart(2, '0')} is not one of 00..05`);
    }
  }
  flush();
  if (records === 0) throw new ImageError(`${name}: not an Intel HEX file: no records`);
  if (!sawEof) throw new ImageError(`${name}: invalid Intel HEX: no end-of-file record (type 01): is the file cut short?`);
  if (chunks.length === 0) throw new ImageError(`${name}: Intel HEX file has no data: nothing to flash`);
  return new FlashImage(name, chunks);
}
