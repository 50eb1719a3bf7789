/**
 * CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF) — the same
 * CRC the on-target routine computes, so host and target agree on "this sector already matches".
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** The table as 1 KiB of little-endian words: the on-target routine reads it from RAM. */
export function crc32TableBytes(): Uint8Array {
  const out = new Uint8Array(1024);
  const view = new DataView(out.buffer);
  for (let n = 0; n < 256; n++) view.setUint32(n * 4, TABLE[n], true);
  return out;
}

export function crc32(data: Uint8Array, seed = 0): number {
  let c = ~seed >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * CRC-32/MPEG-2 (polynomial 0x04C11DB7, init 0xFFFFFFFF, not reflected, no final XOR): the check
 * the RP2040 boot ROM makes over boot2's first 252 bytes. Catalogue check value: "123456789" →
 * 0x0376E6E7.
 */
export function crc32Mpeg2(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    c ^= data[i] << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
  }
  return c >>> 0;
}
