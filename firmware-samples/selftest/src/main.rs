//! selftest: a small on-target test harness that speaks the defmt-test conventions over
//! semihosting (ARM IHI 0053: BKPT 0xAB, operation in r0, parameter in r1). It prints
//! `(i/n) running `name`...` before each test and `all tests passed!` at the end, each line through
//! SYS_WRITE on ":tt"; a failing test panics, the panic handler prints the message (with its
//! file:line) and the harness exits through SYS_EXIT_EXTENDED with status 1; success exits with 0.
//! It also asks for its command line (SYS_GET_CMDLINE) and reports how long it ran (SYS_CLOCK).
//! The `passing` build (`--cfg all_pass`, firmware-samples/selftest/variants) expects the right
//! checksum, so every test passes, and ends with `bkpt` as defmt-test does under probe-run; the
//! `semihosting-only` build (`--cfg no_rtt`) never sets up RTT.
#![no_std]
#![no_main]

#[allow(dead_code)]
#[path = "../../common/rt.rs"]
mod rt;
#[allow(dead_code)]
#[path = "../../common/rtt.rs"]
mod rtt;

use core::fmt::{self, Write};

const SYS_OPEN: u32 = 0x01;
const SYS_WRITE0: u32 = 0x04;
const SYS_WRITEC: u32 = 0x03;
const SYS_WRITE: u32 = 0x05;
const SYS_CLOCK: u32 = 0x10;
const SYS_GET_CMDLINE: u32 = 0x15;
const SYS_EXIT_EXTENDED: u32 = 0x20;
const ADP_STOPPED_APPLICATION_EXIT: u32 = 0x20026;

fn semihost(op: u32, arg: u32) -> u32 {
    let result;
    unsafe { core::arch::asm!("bkpt #0xab", inout("r0") op => result, in("r1") arg, options(nostack)) };
    result
}

static mut STDOUT: u32 = 0;

struct Host;

impl Write for Host {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let block = [unsafe { STDOUT }, s.as_ptr() as u32, s.len() as u32];
        semihost(SYS_WRITE, block.as_ptr() as u32);
        Ok(())
    }
}

fn exit(status: u32) -> ! {
    let block = [ADP_STOPPED_APPLICATION_EXIT, status];
    semihost(SYS_EXIT_EXTENDED, block.as_ptr() as u32);
    loop {}
}

#[inline(never)]
fn checksum(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |acc, &b| acc.rotate_left(5) ^ b as u32)
}

fn adds() {
    assert_eq!(unsafe { core::ptr::read_volatile(&2u32) } + 2, 4);
}

fn parses() {
    assert_eq!("1234".parse::<u32>(), Ok(1234));
}

/// The failing build expects a wrong value, so `checksums` fails.
#[cfg(not(all_pass))]
const DAPDECK_CHECKSUM: u32 = 0x0d1f_a3ab;
#[cfg(all_pass)]
const DAPDECK_CHECKSUM: u32 = 0xc533_9812;

fn checksums() {
    assert_eq!(checksum(b"dapdeck"), DAPDECK_CHECKSUM, "checksum of {:?}", "dapdeck");
}

fn sorts() {
    let mut v = [5u8, 3, 9, 1];
    v.sort_unstable();
    assert_eq!(v, [1, 3, 5, 9]);
}

const TESTS: [(&str, fn()); 4] = [("adds", adds), ("parses", parses), ("checksums", checksums), ("sorts", sorts)];

fn main() -> ! {
    // An RTT block too, as most firmware has: the host streams it and serves semihosting meanwhile.
    // The `semihosting-only` build has none: everything it says goes through semihosting.
    #[cfg(not(no_rtt))]
    rtt::init();
    let tt = b":tt\0";
    unsafe { STDOUT = semihost(SYS_OPEN, [tt.as_ptr() as u32, 4, 3].as_ptr() as u32) };
    semihost(SYS_WRITE0, b"selftest: on-target tests\n\0".as_ptr() as u32);
    let mut cmdline = [0u8; 64];
    let block = [cmdline.as_mut_ptr() as u32, cmdline.len() as u32];
    if semihost(SYS_GET_CMDLINE, block.as_ptr() as u32) == 0 {
        let len = unsafe { core::ptr::read_volatile(&block[1]) } as usize;
        let _ = writeln!(Host, "command line: {}", core::str::from_utf8(&cmdline[..len]).unwrap_or("?"));
    }
    let start = semihost(SYS_CLOCK, 0);
    for (i, (name, test)) in TESTS.iter().enumerate() {
        let _ = writeln!(Host, "({}/{}) running `{}`...", i + 1, TESTS.len(), name);
        test();
    }
    let _ = writeln!(Host, "all tests passed! ({} cs)", semihost(SYS_CLOCK, 0).wrapping_sub(start));
    semihost(SYS_WRITEC, b"\n".as_ptr() as u32);
    finish()
}

#[cfg(not(all_pass))]
fn finish() -> ! {
    exit(0)
}

/// defmt-test's ending under probe-run: a breakpoint the host reads as success.
#[cfg(all_pass)]
fn finish() -> ! {
    loop {
        unsafe { core::arch::asm!("bkpt #0") }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let _ = writeln!(Host, "{}", info);
    exit(1)
}
