//! A small defmt encoder (wire format version 4, rzCOBS framing) with no crates and no proc macros,
//! so the samples build offline with Debian's rustc.
//!
//! Each log statement interns its format string as a symbol in the `.defmt` section whose *name* is
//! the JSON record defmt tools read ({package, tag, data, disambiguator, crate_name}) and whose
//! *address* is the index sent on the wire. The symbol is a static named `DEFMT_LOG_STATEMENT`
//! declared with the call site's span, so the debug info ties it to the statement's file and line,
//! as defmt's own macros do.
//!
//! A frame is `index:u16le`, the timestamp's arguments, then each argument in order; it is rzCOBS
//! encoded, ended by a zero byte, and written to RTT up channel 0 whole or not at all.
//!
//! The log macros (`info!` etc., `intern!`, `istr!`) live in the proc-macro crate `defmt-macros`.
//! Arguments are encoded by their Rust type: the caller passes values whose types match the
//! `{=type}` parameters (the macro checks the count; the golden tests catch a type mismatch).

use crate::rtt;

pub const CHANNEL: usize = 0;
const FRAME_MAX: usize = 160;

/// A frame being built. Writes past the end set `overflow` and the frame is dropped, never sent cut.
pub struct Frame {
    buf: [u8; FRAME_MAX],
    len: usize,
    overflow: bool,
}

impl Frame {
    pub fn bytes(&mut self, data: &[u8]) {
        if self.len + data.len() > FRAME_MAX {
            self.overflow = true;
            return;
        }
        self.buf[self.len..self.len + data.len()].copy_from_slice(data);
        self.len += data.len();
    }
}

/// How a value goes on the wire.
pub trait Encode {
    fn encode(&self, f: &mut Frame);
}

macro_rules! encode_le {
    ($($t:ty),*) => { $(impl Encode for $t { fn encode(&self, f: &mut Frame) { f.bytes(&self.to_le_bytes()) } })* };
}
encode_le!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64);

// usize/isize travel as 32 bits whatever the target's pointer width.
impl Encode for usize {
    fn encode(&self, f: &mut Frame) {
        f.bytes(&(*self as u32).to_le_bytes())
    }
}
impl Encode for isize {
    fn encode(&self, f: &mut Frame) {
        f.bytes(&(*self as i32).to_le_bytes())
    }
}
impl Encode for bool {
    fn encode(&self, f: &mut Frame) {
        f.bytes(&[*self as u8])
    }
}
impl Encode for char {
    fn encode(&self, f: &mut Frame) {
        f.bytes(&(*self as u32).to_le_bytes())
    }
}
/// `{=str}` and `{=[u8]}`: a u32 length, then the bytes.
impl Encode for &str {
    fn encode(&self, f: &mut Frame) {
        f.bytes(&(self.len() as u32).to_le_bytes());
        f.bytes(self.as_bytes());
    }
}
impl Encode for &[u8] {
    fn encode(&self, f: &mut Frame) {
        f.bytes(&(self.len() as u32).to_le_bytes());
        f.bytes(self);
    }
}
/// `{=[u8; N]}`: the length is in the format string, only the bytes travel.
impl<const N: usize> Encode for [u8; N] {
    fn encode(&self, f: &mut Frame) {
        f.bytes(self);
    }
}

/// `{=istr}`: an interned string, sent as its u16 index.
#[derive(Clone, Copy)]
pub struct Istr(pub u16);
impl Encode for Istr {
    fn encode(&self, f: &mut Frame) {
        f.bytes(&self.0.to_le_bytes())
    }
}

/// A type with its own defmt format (`{=?}` / `{}`): writes its format's index, then its fields.
pub trait Format {
    fn format(&self, f: &mut Frame);
}
/// Passes a `Format` value as a `{=?}` argument.
pub struct Nested<'a, T: Format>(pub &'a T);
impl<'a, T: Format> Encode for Nested<'a, T> {
    fn encode(&self, f: &mut Frame) {
        self.0.format(f)
    }
}
/// `{=[?]}`: a u32 count, the element format's index once, then each element's fields. `element`
/// is the interned format of `T` and `fields` writes one element without its index.
pub struct Slice<'a, T>(pub &'a [T], pub u16, pub fn(&T, &mut Frame));
impl<'a, T> Encode for Slice<'a, T> {
    fn encode(&self, f: &mut Frame) {
        f.bytes(&(self.0.len() as u32).to_le_bytes());
        f.bytes(&self.1.to_le_bytes());
        for item in self.0 {
            (self.2)(item, f);
        }
    }
}

/// The wire-format version and encoding markers, and the timestamp format: symbols no code uses,
/// kept by `#[used]` and the linker script's KEEP. The sample provides `defmt_timestamp()`, whose
/// value is encoded as `{=u64:us}`.
#[used]
#[link_section = ".defmt.end"]
#[export_name = "_defmt_version_ = 4"]
static DEFMT_VERSION: u8 = 0;
#[used]
#[link_section = ".defmt.end"]
#[export_name = "_defmt_encoding_ = rzcobs"]
static DEFMT_ENCODING: u8 = 0;
#[used]
#[link_section = ".defmt"]
#[export_name = "{\"package\":\"dapdeck-samples\",\"tag\":\"defmt_timestamp\",\"data\":\"{=u64:us}\",\"disambiguator\":\"0\",\"crate_name\":\"dapdeck\"}"]
static DEFMT_TIMESTAMP: u8 = 0;

extern "Rust" {
    /// Microseconds since boot; defined by the sample with `#[no_mangle]`.
    fn defmt_timestamp() -> u64;
}

/// Frames that did not fit the frame buffer or the RTT channel (dropped whole).
pub static mut DROPPED: u32 = 0;

/// Builds and sends one frame. Interrupts are masked while the frame goes into the channel, so a
/// log statement in an interrupt handler cannot interleave its bytes with one in thread mode.
pub fn log(index: u16, args: &dyn Fn(&mut Frame)) {
    let mut f = Frame { buf: [0; FRAME_MAX], len: 0, overflow: false };
    f.bytes(&index.to_le_bytes());
    unsafe { defmt_timestamp() }.encode(&mut f);
    args(&mut f);
    if f.overflow {
        unsafe { DROPPED += 1 };
        return;
    }
    let mut out = [0u8; FRAME_MAX + FRAME_MAX / 7 + 3];
    let n = rzcobs_encode(&f.buf[..f.len], &mut out);
    out[n] = 0;
    let primask = interrupts_off();
    let sent = rtt::write(CHANNEL, &out[..n + 1]);
    interrupts_restore(primask);
    if !sent {
        unsafe { DROPPED += 1 };
    }
}

/// rzCOBS ("reverse zero-compressed COBS"): bytes go in groups of 7; a zero in a group is a set bit
/// in the group's bitmap byte instead of a byte; a group without zeros turns into a run of literal
/// bytes that ends with 0x80 | (run - 7) at the next zero, or 0xFF after 134 bytes. The decoder
/// reads backwards from the frame's end. Returns the encoded length (no zero byte in the output).
fn rzcobs_encode(data: &[u8], out: &mut [u8]) -> usize {
    let mut n = 0;
    let mut run: u32 = 0;
    let mut zeros: u8 = 0;
    for &b in data {
        if run < 7 {
            if b == 0 {
                zeros |= 1 << run;
            } else {
                out[n] = b;
                n += 1;
            }
            run += 1;
            if run == 7 && zeros != 0 {
                out[n] = zeros;
                n += 1;
                run = 0;
                zeros = 0;
            }
        } else if b == 0 {
            out[n] = 0x80 | (run - 7) as u8;
            n += 1;
            run = 0;
            zeros = 0;
        } else {
            out[n] = b;
            n += 1;
            run += 1;
            if run == 134 {
                out[n] = 0xff;
                n += 1;
                run = 0;
                zeros = 0;
            }
        }
    }
    if run > 0 && run < 7 {
        out[n] = (zeros | (0xffu8 << run)) & 0x7f;
        n += 1;
    } else if run >= 7 {
        out[n] = 0x80 | (run - 7) as u8;
        n += 1;
    }
    n
}

fn interrupts_off() -> u32 {
    let primask: u32;
    unsafe {
        core::arch::asm!("mrs {0}, PRIMASK", "cpsid i", out(reg) primask);
    }
    primask
}

fn interrupts_restore(primask: u32) {
    if primask & 1 == 0 {
        unsafe { core::arch::asm!("cpsie i") };
    }
}
