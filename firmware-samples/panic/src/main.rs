//! panic: logs a few lines on RTT channel 0 (plain text), then panics with a formatted message three
//! calls deep (main → average → sum → check_reading). The panic handler prints the message as
//! panic-probe does and executes `udf`, so the core takes a HardFault (UsageFault UNDEFINSTR,
//! escalated) with the panic handler's frame on the stack.
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

const LIMIT: u32 = 100;

#[inline(never)]
fn check_reading(reading: u32) -> u32 {
    if reading > LIMIT {
        panic!("sensor reading {} out of range (limit {})", reading, LIMIT);
    }
    reading
}

#[inline(never)]
fn sum(readings: &[u32]) -> u32 {
    let mut total = 0;
    for &r in readings {
        total += check_reading(r);
    }
    total
}

#[inline(never)]
fn average(readings: &[u32]) -> u32 {
    sum(readings) / readings.len() as u32
}

fn main() -> ! {
    rtt::init();
    let _ = writeln!(Console, "panic sample: averaging three readings");
    // Read through a volatile load so the compiler cannot see the bad value coming.
    let third = unsafe { core::ptr::read_volatile(&250u32) };
    let readings = [7, 42, third];
    let avg = average(&readings);
    let _ = writeln!(Console, "average {}", avg);
    loop {}
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let _ = writeln!(Console, "{}", info);
    unsafe { core::arch::asm!("udf #0", options(noreturn)) }
}
