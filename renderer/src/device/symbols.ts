/** The memory view's address field: an address as typed, or a symbol of the chosen ELF. */
import { STT_FUNC, type ElfFile } from '../../../core/elf';
import { demangle } from '../../../core/elf/demangle';

/** Rust names (legacy and v0 mangling), the same demangler the CLI's stop reports use. */
export { demangle };

/** An address as typed (0x…, decimal) or a symbol of the chosen ELF (plain or Rust path, e.g. `main`). */
export function resolveAddress(text: string, elf: ElfFile | null, fileName: string): { address: number; label: string } {
  const t = text.trim();
  if (/^0x[0-9a-f]{1,8}$/i.test(t) || /^\d{1,10}$/.test(t)) {
    const address = Number(t);
    if (address > 0xffffffff) throw new Error(`${t} is beyond the 32-bit address space`);
    return { address, label: `0x${address.toString(16).padStart(8, '0')}` };
  }
  if (!/^[A-Za-z_][\w:$.]*$/.test(t)) throw new Error(`“${t}” is neither an address (0x20000000) nor a symbol name`);
  if (!elf) throw new Error(`“${t}” is not an address, and no ELF is chosen to look the symbol up in`);
  const named = elf.symbols.filter((sym) => sym.name && sym.value !== 0);
  const exact = named.filter((sym) => sym.name === t || demangle(sym.name) === t);
  const found = exact.length ? exact : named.filter((sym) => demangle(sym.name).endsWith(`::${t}`));
  const distinct = [...new Map(found.map((sym) => [sym.value, sym])).values()];
  if (distinct.length === 0) throw new Error(`no symbol “${t}” in ${fileName}`);
  if (distinct.length > 1) throw new Error(`“${t}” names ${distinct.length} symbols in ${fileName} (${distinct.slice(0, 3).map((sym) => demangle(sym.name)).join(', ')}…): give the full path`);
  // Thumb function symbols have bit 0 set; the code starts at the even address.
  const address = distinct[0].type === STT_FUNC ? distinct[0].value & ~1 : distinct[0].value;
  return { address: address >>> 0, label: demangle(distinct[0].name) };
}

