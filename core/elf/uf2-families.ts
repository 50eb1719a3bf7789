/**
 * UF2 family IDs (facts from the family list the UF2 spec keeps, microsoft/uf2
 * utils/uf2families.json) for the microcontrollers Dapdeck's chip descriptions name, and which
 * chips answer to each: a chip takes its series' ID and any narrower one for its part. The nRF51
 * has no registered family (micro:bit v1 tools use HEX), so only a UF2 without a family ID is
 * taken for it.
 */
export interface Uf2Family {
  id: number;
  name: string;
  description: string;
  /** Chip names (as probe-rs and CMSIS-Packs spell them) this family is for. */
  chips: RegExp;
}

export const UF2_FAMILIES: readonly Uf2Family[] = [
  { id: 0x1b57745f, name: 'NRF52', description: 'Nordic NRF52', chips: /^nRF52/i },
  { id: 0x72721d4e, name: 'NRF52832xxAA', description: 'Nordic NRF52832xxAA', chips: /^nRF52832_?xxAA/i },
  { id: 0x6f752678, name: 'NRF52832xxAB', description: 'Nordic NRF52832xxAB', chips: /^nRF52832_?xxAB/i },
  { id: 0x621e937a, name: 'NRF52833', description: 'Nordic NRF52833', chips: /^nRF52833/i },
  { id: 0xada52840, name: 'NRF52840', description: 'Nordic NRF52840', chips: /^nRF52840/i },
  { id: 0x820d9a5f, name: 'NRF52820', description: 'Nordic NRF52820_xxAA', chips: /^nRF52820/i },
  { id: 0xe48bff56, name: 'RP2040', description: 'Raspberry Pi RP2040', chips: /^RP2040/i },
  { id: 0x647824b6, name: 'STM32F0', description: 'ST STM32F0xx', chips: /^STM32F0/i },
  { id: 0x5ee21072, name: 'STM32F1', description: 'ST STM32F103', chips: /^STM32F103/i },
  { id: 0x5d1a0a2e, name: 'STM32F2', description: 'ST STM32F2xx', chips: /^STM32F2/i },
  { id: 0x6b846188, name: 'STM32F3', description: 'ST STM32F3xx', chips: /^STM32F3/i },
  { id: 0x57755a57, name: 'STM32F4', description: 'ST STM32F4xx', chips: /^STM32F4/i },
  { id: 0x6d0922fa, name: 'STM32F407', description: 'ST STM32F407', chips: /^STM32F407/i },
  { id: 0x8fb060fe, name: 'STM32F407VG', description: 'ST STM32F407VG', chips: /^STM32F407VG/i },
  { id: 0x2dc309c5, name: 'STM32F411xE', description: 'ST STM32F411xE', chips: /^STM32F411.E/i },
  { id: 0x06d1097b, name: 'STM32F411xC', description: 'ST STM32F411xC', chips: /^STM32F411.C/i },
  { id: 0x53b80f00, name: 'STM32F7', description: 'ST STM32F7xx', chips: /^STM32F7/i },
  { id: 0x300f5633, name: 'STM32G0', description: 'ST STM32G0xx', chips: /^STM32G0/i },
  { id: 0x4c71240a, name: 'STM32G4', description: 'ST STM32G4xx', chips: /^STM32G4/i },
  { id: 0x4e8f1c5d, name: 'STM32H5', description: 'ST STM32H5xx', chips: /^STM32H5/i },
  { id: 0x6db66082, name: 'STM32H7', description: 'ST STM32H7xx', chips: /^STM32H7/i },
  { id: 0x202e3a91, name: 'STM32L0', description: 'ST STM32L0xx', chips: /^STM32L0/i },
  { id: 0x1e1f432d, name: 'STM32L1', description: 'ST STM32L1xx', chips: /^STM32L1/i },
  { id: 0x00ff6919, name: 'STM32L4', description: 'ST STM32L4xx', chips: /^STM32L4/i },
  { id: 0x04240bdf, name: 'STM32L5', description: 'ST STM32L5xx', chips: /^STM32L5/i },
  { id: 0x70d16653, name: 'STM32WB', description: 'ST STM32WBxx', chips: /^STM32WB/i },
  { id: 0x21460ff0, name: 'STM32WL', description: 'ST STM32WLxx', chips: /^STM32WL/i },
  { id: 0x68ed2b88, name: 'SAMD21', description: 'Microchip (Atmel) SAMD21', chips: /^(AT)?SAMD21/i },
  { id: 0x55114460, name: 'SAMD51', description: 'Microchip (Atmel) SAMD51', chips: /^(AT)?SAMD51/i },
  { id: 0x2abc77ec, name: 'LPC55', description: 'NXP LPC55xx', chips: /^LPC55/i },
];

/** The UF2 family IDs a chip answers to (empty: none registered for it). */
export function uf2FamiliesOfChip(chipName: string): number[] {
  return UF2_FAMILIES.filter((f) => f.chips.test(chipName)).map((f) => f.id);
}

/** "RP2040 (0xe48bff56)", or the bare ID for a family not in the table. */
export function describeUf2Family(id: number): string {
  const known = UF2_FAMILIES.find((f) => f.id === id);
  const hex = `0x${id.toString(16).padStart(8, '0')}`;
  return known ? `${known.name} (${hex})` : `family ${hex}`;
}
