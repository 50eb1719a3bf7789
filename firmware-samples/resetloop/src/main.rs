//! resetloop: a firmware that resets itself shortly after every boot (AIRCR.SYSRESETREQ, as a
//! watchdog or a fault handler that resets would), so it never gets anywhere: the host sees the
//! same boot line again and again, and DHCSR.S_RESET_ST after each reset.
#![no_std]
#![no_main]

#[allow(dead_code)]
#[path = "../../common/rt.rs"]
mod rt;
#[allow(dead_code)]
#[path = "../../common/rtt.rs"]
mod rtt;
#[path = "../../common/console.rs"]
mod console;

use console::Console;
use core::fmt::Write;

const AIRCR: u32 = 0xE000_ED0C;
const VECTKEY: u32 = 0x05FA_0000;
const SYSRESETREQ: u32 = 1 << 2;

fn main() -> ! {
    rtt::init();
    let _ = writeln!(Console, "resetloop: booted; resetting");
    // Long enough for the host to read the line (a few ms of emulated time).
    for i in 0..200_000u32 {
        unsafe { core::ptr::read_volatile(&i) };
    }
    rt::write_reg(AIRCR, VECTKEY | SYSRESETREQ);
    loop {}
}
