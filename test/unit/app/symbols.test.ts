/**
 * The memory view's address field resolves symbols of the chosen ELF: checked against what
 * gdb-multiarch (a debugger nobody here wrote) says the same names are, on the hello sample.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ElfFile } from '../../../core/elf';
import { demangle, resolveAddress } from '../../../renderer/src/device/symbols';
import { firmwarePath } from '../../support/firmware';

function gdbAddress(elf: string, expression: string): number {
  const out = execFileSync('gdb-multiarch', ['-batch', '-ex', expression, elf], { encoding: 'utf8' });
  const m = /(?:= |at address )0x([0-9a-f]+)/.exec(out);
  if (!m) throw new Error(`gdb said: ${out}`);
  return parseInt(m[1], 16);
}

describe('memory view addresses', () => {
  const path = firmwarePath('hello', 'microbit');
  const elf = new ElfFile(readFileSync(path), 'hello-microbit.elf');

  it('resolves a Rust function by its short name and a C-style symbol by its exact name, as gdb does', () => {
    const main = resolveAddress('main', elf, 'hello-microbit.elf');
    expect(main.label).toBe('hello::main');
    expect(main.address).toBe(gdbAddress(path, 'info address hello::main'));
    expect(resolveAddress('hello::main', elf, 'hello-microbit.elf').address).toBe(main.address);
    const rtt = resolveAddress('_SEGGER_RTT', elf, 'hello-microbit.elf');
    expect(rtt.address).toBe(gdbAddress(path, 'print/x &_SEGGER_RTT'));
  });

  it('takes addresses as typed and refuses what is neither an address nor a known symbol', () => {
    expect(resolveAddress('0x20000000', null, '')).toEqual({ address: 0x20000000, label: '0x20000000' });
    expect(resolveAddress('4096', null, '')).toEqual({ address: 4096, label: '0x00001000' });
    expect(() => resolveAddress('main', null, '')).toThrow('“main” is not an address, and no ELF is chosen to look the symbol up in');
    expect(() => resolveAddress('no_such_symbol', elf, 'hello-microbit.elf')).toThrow('no symbol “no_such_symbol” in hello-microbit.elf');
    expect(() => resolveAddress('0x1_0000', elf, 'x')).toThrow('neither an address');
    expect(() => resolveAddress('9999999999', elf, 'x')).toThrow('beyond the 32-bit address space');
  });

  it('demangles legacy Rust symbols and drops the hash', () => {
    expect(demangle('_ZN5hello4main17h0123456789abcdefE')).toBe('hello::main');
    expect(demangle('_SEGGER_RTT')).toBe('_SEGGER_RTT');
  });
});
