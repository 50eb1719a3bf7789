//! fault: logs on RTT channel 0 (plain text), then touches a bad address three calls deep
//! (main → read_sensor → read_register). On the micro:bit it reads a word where nothing is mapped
//! (0x3000_0004): a bus error, which ARMv6-M takes as HardFault. QEMU's LM3S6965 board reads
//! unmapped memory as 0 (it ignores bus errors, measured), so there the driver calls a handler at
//! an address in the System region, which is never executable (XN): a MemManage fault
//! (IACCVIOL), escalated to HardFault since MemManage is not enabled.
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

pub const MISSING_DEVICE: u32 = 0x3000_0000;

#[cfg(board = "microbit")]
#[inline(never)]
fn read_register(address: u32) -> u32 {
    unsafe { core::ptr::read_volatile(address as *const u32) }
}

/// An address in the System region (0xE010_0000 and up): execute-never on every Cortex-M.
#[cfg(board = "lm3s6965evb")]
const SYSTEM_REGION: u32 = 0xe010_0000;

#[cfg(board = "lm3s6965evb")]
#[inline(never)]
fn read_register(address: u32) -> u32 {
    let handler: extern "C" fn(u32) -> u32 = unsafe { core::mem::transmute((SYSTEM_REGION | 1) as usize) };
    handler(address)
}

#[inline(never)]
fn read_sensor(base: u32) -> u32 {
    read_register(base + 4) + 1
}

fn main() -> ! {
    rtt::init();
    let _ = writeln!(Console, "fault sample: reading a sensor at {:#010x}", MISSING_DEVICE + 4);
    let base = unsafe { core::ptr::read_volatile(&MISSING_DEVICE) };
    let value = read_sensor(base);
    let _ = writeln!(Console, "value {}", value);
    loop {}
}
