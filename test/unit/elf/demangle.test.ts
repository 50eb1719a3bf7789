import { describe, expect, it } from 'vitest';
import { demangle } from '../../../core/elf/demangle';

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
  });
});
