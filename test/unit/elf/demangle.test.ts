import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ProgramInfo } from '../../../core/elf/backtrace';
import { demangle } from '../../../core/elf/demangle';
import { ElfFile, STT_FUNC } from '../../../core/elf/elf';
import { firmwarePath } from '../../support/firmware';

// Expected names as rustc's own demangler (rustc-demangle, used by `rustfilt` and probe-run) prints
// them without the hash: the mangled forms are rustc 1.63's output for the samples.
describe('Rust legacy symbol demangling', () => {
  it('joins the path, drops the hash and decodes the escapes', () => {
    expect(demangle('_ZN5fault13read_register17h30ece0c948b0029fE')).toBe('fault::read_register');
    expect(demangle('_ZN60_$LT$panic..console..Console$u20$as$u20$core..fmt..Write$GT$9write_str17h323f4871b744e773E')).toBe('<panic::console::Console as core::fmt::Write>::write_str');
    expect(demangle('_ZN4core9panicking5panic17h0123456789abcdefE')).toBe('core::panicking::panic');
    expect(demangle('_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$17h0123456789abcdefE')).toBe('core::ptr::drop_in_place<std::rt::lang_start<()>::{{closure}}>');
  });

  it('leaves names that are not mangled alone', () => {
    expect(demangle('DefaultHandler')).toBe('DefaultHandler');
    expect(demangle('rust_begin_unwind')).toBe('rust_begin_unwind');
    expect(demangle('_ZN5brokenE')).toBe('_ZN5brokenE');
    expect(demangle('_RNvC')).toBe('_RNvC');
    expect(demangle('_RNvB9_3foo')).toBe('_RNvB9_3foo'); // a back-reference that does not point back
  });
});

/**
 * v0 names rustc 1.63 made here (-C symbol-mangling-version=v0) for generic functions instantiated
 * with every kind of type and const the scheme has: closures and shims, inherent and trait impls,
 * tuples, arrays with const lengths, slices, raw pointers, references with lifetimes, fn pointers
 * with ABIs and binders, dyn traits with associated-type bindings, const generics (negative, char,
 * bool), back-references.
 */
const V0_NAMES = [
  '_RINvCs9xTuieYqZCq_3lib3chrKc61_Kb1_EB2_',
  '_RINvCs9xTuieYqZCq_3lib3negKln5_EB2_',
  '_RINvNtCs30YITssOn10_4core3ptr13drop_in_placeNCNvCs9xTuieYqZCq_3lib3all0EBK_',
  '_RNCNvCs9xTuieYqZCq_3lib3all0B3_',
  '_RNSNvYNCNvCs9xTuieYqZCq_3lib3all0INtNtNtCs30YITssOn10_4core3ops8function6FnOnceTmEE9call_once6vtableB8_',
  '_RNvCs9xTuieYqZCq_3lib3all',
  '_RNvCs9xTuieYqZCq_3lib3ext',
  '_RNvCs9xTuieYqZCq_3lib4call',
  '_RNvMCs9xTuieYqZCq_3libINtB2_1WhKj3_E5firstB2_',
  '_RNvXs0_Cs9xTuieYqZCq_3libRSmNtB5_2Tr2go',
  '_RNvXs_Cs9xTuieYqZCq_3libThsENtB4_2Tr2go',
  '_RNvYNCNvCs9xTuieYqZCq_3lib3alls_0INtNtNtCs30YITssOn10_4core3ops8function6FnOnceTReEE9call_onceB6_',
  '_RINvCsguaLW6agVXk_4lib21gAhj4_EB2_',
  '_RINvCsguaLW6agVXk_4lib21gDG_INtNtNtCs30YITssOn10_4core3ops8function2FnTRL0_eEEp6OutputuEL_EB2_',
  '_RINvCsguaLW6agVXk_4lib21gDINtNtNtCs30YITssOn10_4core3ops8function2FnTmEEp6OutputmEL_EB2_',
  '_RINvCsguaLW6agVXk_4lib21gDNtNtNtNtCs30YITssOn10_4core4iter6traits8iterator8Iteratorp4ItemhNtNtBw_6marker4SendEL_EB2_',
  '_RINvCsguaLW6agVXk_4lib21gFG_RL0_eEbEB2_',
  '_RINvCsguaLW6agVXk_4lib21gFG_RL0_hERL0_hEB2_',
  '_RINvCsguaLW6agVXk_4lib21gFK6systemEuEB2_',
  '_RINvCsguaLW6agVXk_4lib21gFUKCmxEuEB2_',
  '_RINvCsguaLW6agVXk_4lib21gINtB2_1PIBo_hEEEB2_',
  '_RINvCsguaLW6agVXk_4lib21gOStEB2_',
  '_RINvCsguaLW6agVXk_4lib21gPhEB2_',
  '_RINvCsguaLW6agVXk_4lib21gQxEB2_',
  '_RINvCsguaLW6agVXk_4lib21gTbEEB2_',
  '_RINvCsguaLW6agVXk_4lib21gTfdconiEEB2_',
  '_RINvCsguaLW6agVXk_4lib21guEB2_',
  '_RNvCsguaLW6agVXk_4lib23all',
];

/** GNU c++filt (binutils), which demangles both schemes with hashes kept: the independent reference. */
function cxxfilt(names: string[]): string[] {
  return execFileSync('c++filt', { input: names.join('\n') + '\n', encoding: 'utf8' }).trimEnd().split('\n');
}

/** c++filt's output without the hashes: the v0 crate disambiguators and the legacy ::h… suffix. */
const withoutHashes = (name: string) => name.replace(/\[[0-9a-f]+\]/g, '').replace(/::h[0-9a-f]{16}$/, '');

function functionSymbols(file: string): string[] {
  const elf = new ElfFile(readFileSync(file), file);
  return [...new Set(elf.symbols.filter((s) => s.type === STT_FUNC && /^_(ZN|R)/.test(s.name)).map((s) => s.name))];
}

describe('Rust symbol demangling equals GNU c++filt', () => {
  it('v0: every name of the fixture list, with and without hashes', () => {
    const theirs = cxxfilt(V0_NAMES);
    expect(V0_NAMES.map((n) => demangle(n, { hashes: true }))).toEqual(theirs);
    expect(V0_NAMES.map((n) => demangle(n))).toEqual(theirs.map(withoutHashes));
  });

  it.each([
    ['panic', 'microbit', undefined],
    ['selftest', 'lm3s6965evb', undefined],
    ['panic', 'microbit', 'v0'],
    ['panic', 'lm3s6965evb', 'v0'],
  ] as const)('every function symbol of %s-%s (%s mangling)', (sample, board, variant) => {
    const names = functionSymbols(firmwarePath(sample, board, variant));
    expect(names.filter((n) => n.startsWith(variant ? '_R' : '_ZN')).length).toBeGreaterThan(10);
    const theirs = cxxfilt(names);
    expect(names.map((n) => demangle(n, { hashes: true }))).toEqual(theirs);
    expect(names.map((n) => demangle(n))).toEqual(theirs.map(withoutHashes));
  });

  it('a v0-mangled ELF\'s functions are named demangled where no debug info is used', () => {
    const file = firmwarePath('panic', 'microbit', 'v0');
    const elf = new ElfFile(readFileSync(file), file);
    const program = new ProgramInfo(elf);
    const sym = elf.symbols.find((s) => /^_RNvCs\w+_5panic13check_reading$/.test(s.name))!;
    expect(program.symbolAt(sym.value + 2)).toBe('panic::check_reading+0x2');
  });
});
