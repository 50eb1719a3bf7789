/** Built by main/web/page-emulator-assets.ts: what the page's own emulated Pico needs. */
declare module 'virtual:page-emulator' {
  /** Dapdeck's RP2040 boot ROM (ELF). */
  export const bootrom: { name: string; url: string };
  /** The Pico samples bundled with the page. */
  export const samples: { name: string; fileName: string; url: string }[];
  /** The emulated board's chip name, and its description resolved for flashing (null: not in this build, see chipProblem). */
  export const chipName: string;
  export const chip: import('../../core/flash/portable-chip').PortableChip | null;
  export const chipProblem: string | null;
}
