/**
 * The emulated Pico's boot ROM image from the ROM's ELF (firmware-samples/bootrom, built by
 * scripts/build-firmware.sh): the 16 KiB at address 0, as the CLI's `emu:pico` and the page's
 * in-browser Pico both load it.
 */
import { loadImage } from '../elf';

export const PICO_ROM_SIZE = 16 * 1024;

export function picoRomImage(elf: Uint8Array, name: string): Uint8Array {
  const image = loadImage(elf, name);
  for (const chunk of image.chunks) {
    if (chunk.address + chunk.data.length > PICO_ROM_SIZE) throw new Error(`${name}: 0x${chunk.address.toString(16)}+${chunk.data.length} lies outside the RP2040's 16 KiB boot ROM`);
  }
  return image.bytes(0, PICO_ROM_SIZE);
}
