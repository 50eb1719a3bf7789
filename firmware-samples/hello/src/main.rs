//! hello: the firmware the demo and the tests run. At start it logs one defmt record of every
//! argument kind and level on RTT up channel 0; then every 100 ms (10 SysTicks) the SysTick handler
//! logs `tick N`. Timestamps are SysTick time (10 ms steps), so the whole stream is deterministic
//! and `test/golden/hello-*.txt` states exactly what decoding must print.
//!
//! Channel 1 ("Text") carries plain text: `hello from dapdeck #N` every 10 ms, and `echo: …` with
//! whatever the host wrote to down channel 0.
#![no_std]
#![no_main]

#[allow(dead_code)]
#[path = "../../common/rt.rs"]
mod rt;
#[allow(dead_code)]
#[path = "../../common/rtt.rs"]
mod rtt;
#[allow(dead_code)]
#[path = "../../common/defmt.rs"]
mod defmt;
#[macro_use]
extern crate defmt_macros;

use core::sync::atomic::{AtomicU32, Ordering};
use defmt::{Encode, Format, Frame, Nested, Slice};

/// Core clock: the nRF51 runs at 16 MHz; QEMU's LM3S6965 model at 12 MHz (its crystal, no PLL).
#[cfg(board = "microbit")]
const CORE_HZ: u32 = 16_000_000;
#[cfg(board = "lm3s6965evb")]
const CORE_HZ: u32 = 12_000_000;
#[cfg(board = "microbit")]
const BOARD: &str = "microbit";
#[cfg(board = "lm3s6965evb")]
const BOARD: &str = "lm3s6965evb";

static TICKS: AtomicU32 = AtomicU32::new(0);

#[no_mangle]
fn defmt_timestamp() -> u64 {
    TICKS.load(Ordering::Relaxed) as u64 * 10_000
}

#[no_mangle]
pub extern "C" fn SysTick() {
    // Only this handler writes TICKS, so load+store is enough (ARMv6-M has no atomic read-modify-write).
    let now = TICKS.load(Ordering::Relaxed).wrapping_add(1);
    TICKS.store(now, Ordering::Relaxed);
    if now % 10 == 0 {
        info!("tick {=u32}", now / 10);
    }
}

struct Point {
    x: i32,
    y: i32,
}

fn point_format() -> u16 {
    intern!("defmt_derived", "Point {{ x: {=i32}, y: {=i32} }}")
}

fn point_fields(p: &Point, f: &mut Frame) {
    p.x.encode(f);
    p.y.encode(f);
}

impl Format for Point {
    fn format(&self, f: &mut Frame) {
        point_format().encode(f);
        point_fields(self, f);
    }
}

enum State {
    Idle,
    Busy(u8),
}

impl Format for State {
    fn format(&self, f: &mut Frame) {
        intern!("defmt_derived", "Idle|Busy({=u8})").encode(f);
        match self {
            State::Idle => 0u8.encode(f),
            State::Busy(n) => {
                1u8.encode(f);
                n.encode(f);
            }
        }
    }
}

/// One record of every argument kind, display hint and level.
fn log_showcase() {
    info!("hello from dapdeck on {=str}", BOARD);
    trace!("trace level {=u8}", 1u8);
    debug!("debug level {=u16:#x}", 0xbeefu16);
    info!("unsigned {=u8} {=u16} {=u32} {=u64}", 255u8, 65535u16, 4294967295u32, 18446744073709551615u64);
    info!("signed {=i8} {=i16} {=i32} {=i64}", -128i8, -32768i16, -2147483648i32, -9223372036854775808i64);
    info!("wide {=u128} {=i128}", u128::MAX, i128::MIN);
    info!("usize {=usize} isize {=isize}", 4096usize, -7isize);
    info!("floats {=f32} {=f64} {=f32}", 1.5f32, -0.1f64, 1e20f32);
    info!("bool {=bool} {=bool} char {=char}", true, false, 'é');
    info!("str {=str} {=str:?} istr {=istr}", "slice", "quoted", istr!("interned"));
    info!("bytes {=[u8]} array {=[u8; 3]}", &[1u8, 2, 3][..], [4u8, 5, 6]);
    info!("ascii {=[u8]:a}", &b"hi\n"[..]);
    info!("hex {=u8:x} {=u8:X} {=u8:#b} {=u16:08x} {=u32:#010x} {=i8:x}", 171u8, 171u8, 5u8, 0xbeefu16, 0x1234u32, -1i8);
    info!("time {=u32:us} {=u32:ms} {=u32:ts}", 1_500_000u32, 2_500u32, 3_723u32);
    warn!("bitfield {0=0..4} {0=4..8:b}", 0xa5u8);
    info!("point {=?}", Nested(&Point { x: 1, y: -2 }));
    info!("states {=?} then {=?}", Nested(&State::Idle), Nested(&State::Busy(3)));
    info!("points {=[?]}", Slice(&[Point { x: 1, y: 2 }, Point { x: 3, y: 4 }], point_format(), point_fields));
    error!("error level: code {=i16}", -1i16);
}

fn main() -> ! {
    #[cfg(board = "rp2040")]
    rp2040::clocks_init();
    rtt::init();
    log_showcase();
    rt::systick_start(CORE_HZ / 100 - 1);
    let mut seen = 0u32;
    let mut count = 0u32;
    let mut rx = [0u8; 32];
    loop {
        rt::wfi();
        let now = TICKS.load(Ordering::Relaxed);
        if now != seen {
            seen = now;
            count += 1;
            let mut line = [0u8; 40];
            let prefix = b"hello from dapdeck #";
            line[..prefix.len()].copy_from_slice(prefix);
            let mut digits = [0u8; 10];
            let d = rtt::decimal(count, &mut digits);
            let mut n = prefix.len();
            line[n..n + d.len()].copy_from_slice(d);
            n += d.len();
            line[n] = b'\n';
            rtt::write(1, &line[..n + 1]);
        }
        let got = rtt::read(0, &mut rx);
        if got > 0 {
            let mut msg = [0u8; 40];
            msg[..6].copy_from_slice(b"echo: ");
            msg[6..6 + got].copy_from_slice(&rx[..got]);
            rtt::write(1, &msg[..6 + got]);
        }
    }
}

// The Pico (kept at the end so the other boards' log locations stay where the golden files have
// them): clk_sys at 125 MHz from the crystal and PLL_SYS, set up by rp2040::clocks_init.
#[cfg(board = "rp2040")]
#[allow(dead_code)]
#[path = "../../common/rp2040.rs"]
mod rp2040;
#[cfg(board = "rp2040")]
const CORE_HZ: u32 = 125_000_000;
#[cfg(board = "rp2040")]
const BOARD: &str = "rp2040";
