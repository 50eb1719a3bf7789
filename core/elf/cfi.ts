/**
 * Call frame information from an ELF's `.debug_frame` (DWARF 5 section 6.4, versions 1, 3 and 4):
 * for a code address, where the caller's registers are — the CFA (canonical frame address) as a
 * register plus an offset, and each saved register as "at CFA+N", "is register R", "unchanged" or
 * "lost". The unwinder (backtrace.ts) applies these rules one frame at a time. DWARF expressions
 * (DW_CFA_def_cfa_expression and friends) are not evaluated: a row that needs one says so, and
 * the unwind ends there rather than guessing.
 */
import { Cursor, DwarfError } from './dwarf';
import type { ElfFile } from './elf';

export type RegisterRule =
  | { kind: 'undefined' }
  | { kind: 'same' }
  /** Saved at CFA + offset. */
  | { kind: 'offset'; offset: number }
  /** The value is CFA + offset. */
  | { kind: 'val-offset'; offset: number }
  | { kind: 'register'; register: number }
  | { kind: 'expression' };

export interface UnwindRow {
  cfa: { register: number; offset: number } | { expression: true };
  /** Rules for registers the row mentions; the others are unchanged. */
  registers: Map<number, RegisterRule>;
  /** The register holding the return address (14, LR, for ARM). */
  returnAddressRegister: number;
}

interface Cie {
  codeAlign: number;
  dataAlign: number;
  returnAddressRegister: number;
  instructions: Uint8Array;
}

interface Fde {
  start: number;
  end: number;
  cie: Cie;
  instructions: Uint8Array;
}

export class CallFrameTable {
  private readonly fdes: Fde[] = [];

  constructor(section: Uint8Array | undefined) {
    if (!section) return;
    const cies = new Map<number, Cie>();
    const readCie = (offset: number): Cie | undefined => {
      if (cies.has(offset)) return cies.get(offset);
      const c = new Cursor(section, offset);
      const length = c.u32();
      const end = offset + 4 + length;
      if (c.u32() !== 0xffffffff) return undefined;
      const version = c.u8();
      const augmentation = c.cstr();
      if (augmentation !== '') return undefined; // .debug_frame producers for these targets use none
      if (version >= 4) {
        c.u8(); // address_size
        c.u8(); // segment_selector_size
      }
      const codeAlign = c.uleb();
      const dataAlign = c.sleb();
      const returnAddressRegister = version === 1 ? c.u8() : c.uleb();
      const cie = { codeAlign, dataAlign, returnAddressRegister, instructions: section.subarray(c.o, end) };
      cies.set(offset, cie);
      return cie;
    };
    let offset = 0;
    try {
      while (offset + 8 <= section.length) {
        const c = new Cursor(section, offset);
        const length = c.u32();
        if (length === 0xffffffff || length === 0) break; // 64-bit DWARF is never made for 32-bit targets
        const end = offset + 4 + length;
        const id = c.u32();
        if (id !== 0xffffffff) {
          const cie = readCie(id);
          const start = c.u32();
          const range = c.u32();
          if (cie) this.fdes.push({ start, end: start + range, cie, instructions: section.subarray(c.o, end) });
        }
        offset = end;
      }
    } catch (err) {
      if (!(err instanceof DwarfError)) throw err;
    }
    this.fdes.sort((a, b) => a.start - b.start);
  }

  static fromElf(elf: ElfFile): CallFrameTable {
    const section = elf.section('.debug_frame');
    return new CallFrameTable(section ? elf.sectionData(section) : undefined);
  }

  get size(): number {
    return this.fdes.length;
  }

  /** The unwind row in effect at `address`, or null when no FDE covers it. */
  rowAt(address: number): UnwindRow | null {
    // FDEs of code the linker dropped sit at 0 and may overlap a real one: the narrowest covering FDE.
    let fde: Fde | undefined;
    for (const f of this.fdes) {
      if (f.start > address) break;
      if (address < f.end && (!fde || f.end - f.start < fde.end - fde.start)) fde = f;
    }
    if (!fde) return null;
    const initial: UnwindRow = { cfa: { register: 13, offset: 0 }, registers: new Map(), returnAddressRegister: fde.cie.returnAddressRegister };
    run(fde.cie.instructions, fde.cie, initial, null, Infinity, 0);
    const row: UnwindRow = { cfa: { ...initial.cfa }, registers: new Map(initial.registers), returnAddressRegister: initial.returnAddressRegister };
    run(fde.instructions, fde.cie, row, initial, address, fde.start);
    return row;
  }
}

/** Executes CFA instructions into `row` until the location passes `until`. */
function run(code: Uint8Array, cie: Cie, row: UnwindRow, initial: UnwindRow | null, until: number, start: number): void {
  const c = new Cursor(code);
  let loc = start;
  const saved: { cfa: UnwindRow['cfa']; registers: Map<number, RegisterRule> }[] = [];
  const setCfa = (register: number | undefined, offset: number | undefined) => {
    const current = 'register' in row.cfa ? row.cfa : { register: 13, offset: 0 };
    row.cfa = { register: register ?? current.register, offset: offset ?? current.offset };
  };
  const restore = (reg: number) => {
    const rule = initial?.registers.get(reg);
    if (rule) row.registers.set(reg, rule);
    else row.registers.delete(reg);
  };
  const advance = (delta: number) => {
    loc += delta * cie.codeAlign;
    return loc > until;
  };
  while (c.o < code.length) {
    const op = c.u8();
    const high = op & 0xc0;
    const low = op & 0x3f;
    if (high === 0x40) {
      if (advance(low)) return;
      continue;
    }
    if (high === 0x80) {
      row.registers.set(low, { kind: 'offset', offset: c.uleb() * cie.dataAlign });
      continue;
    }
    if (high === 0xc0) {
      restore(low);
      continue;
    }
    switch (op) {
      case 0x00: // nop
        break;
      case 0x01: // set_loc
        loc = c.u32();
        if (loc > until) return;
        break;
      case 0x02:
        if (advance(c.u8())) return;
        break;
      case 0x03:
        if (advance(c.u16())) return;
        break;
      case 0x04:
        if (advance(c.u32())) return;
        break;
      case 0x05: {
        // offset_extended
        const reg = c.uleb();
        row.registers.set(reg, { kind: 'offset', offset: c.uleb() * cie.dataAlign });
        break;
      }
      case 0x06:
        restore(c.uleb());
        break;
      case 0x07:
        row.registers.set(c.uleb(), { kind: 'undefined' });
        break;
      case 0x08:
        row.registers.set(c.uleb(), { kind: 'same' });
        break;
      case 0x09: {
        const reg = c.uleb();
        row.registers.set(reg, { kind: 'register', register: c.uleb() });
        break;
      }
      case 0x0a: // remember_state
        saved.push({ cfa: { ...row.cfa }, registers: new Map(row.registers) });
        break;
      case 0x0b: {
        // restore_state
        const s = saved.pop();
        if (s) {
          row.cfa = s.cfa;
          row.registers = s.registers;
        }
        break;
      }
      case 0x0c: {
        const reg = c.uleb();
        setCfa(reg, c.uleb());
        break;
      }
      case 0x0d:
        setCfa(c.uleb(), undefined);
        break;
      case 0x0e:
        setCfa(undefined, c.uleb());
        break;
      case 0x0f: // def_cfa_expression
        c.skip(c.uleb());
        row.cfa = { expression: true };
        break;
      case 0x10: // expression
      case 0x16: {
        // val_expression
        const reg = c.uleb();
        c.skip(c.uleb());
        row.registers.set(reg, { kind: 'expression' });
        break;
      }
      case 0x11: {
        // offset_extended_sf
        const reg = c.uleb();
        row.registers.set(reg, { kind: 'offset', offset: c.sleb() * cie.dataAlign });
        break;
      }
      case 0x12: {
        // def_cfa_sf
        const reg = c.uleb();
        setCfa(reg, c.sleb() * cie.dataAlign);
        break;
      }
      case 0x13:
        setCfa(undefined, c.sleb() * cie.dataAlign);
        break;
      case 0x14: {
        // val_offset
        const reg = c.uleb();
        row.registers.set(reg, { kind: 'val-offset', offset: c.uleb() * cie.dataAlign });
        break;
      }
      case 0x15: {
        const reg = c.uleb();
        row.registers.set(reg, { kind: 'val-offset', offset: c.sleb() * cie.dataAlign });
        break;
      }
      case 0x2e: // GNU_args_size
        c.uleb();
        break;
      default:
        throw new DwarfError(`unknown call frame instruction 0x${op.toString(16)}`);
    }
  }
}
