//! overflow: recurses with a scratch buffer in every call until the stack runs into the statics.
//! RAM holds the statics at the bottom and the stack at the top, growing down (cortex-m-rt's layout
//! without flip-link), so an overflow silently overwrites statics. A guard notices SP below the end
//! of .bss and panics there (a few hundred bytes in: the top of .bss holds the unused RTT channels'
//! buffers); the panic handler prints the message as panic-probe does and executes `udf`.
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

extern "C" {
    static _ebss: u32;
}

/// Per call: the micro:bit's ~10 KiB of stack holds ~18 calls, the LM3S6965's ~58 KiB ~28.
#[cfg(board = "microbit")]
const SCRATCH: usize = 512;
#[cfg(board = "lm3s6965evb")]
const SCRATCH: usize = 2048;

#[inline(never)]
fn measure(depth: u32) -> u32 {
    let mut scratch = [0u8; SCRATCH];
    unsafe { core::ptr::write_volatile(&mut scratch[SCRATCH - 1], depth as u8) };
    // Its address goes into (empty) assembly, so the whole buffer must exist on the stack.
    unsafe { core::arch::asm!("/* {0} */", in(reg) scratch.as_mut_ptr(), options(nostack)) };
    let sp: u32;
    unsafe { core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack)) };
    if sp < unsafe { &_ebss as *const u32 as u32 } {
        panic!("stack overflow at depth {} (sp {:#010x})", depth, sp);
    }
    // Used after the call, so the recursion cannot become a loop.
    measure(depth + 1) + unsafe { core::ptr::read_volatile(&scratch[SCRATCH - 1]) } as u32
}

fn main() -> ! {
    rtt::init();
    let _ = writeln!(Console, "overflow sample: recursing with {} B of scratch per call", SCRATCH);
    let total = measure(0);
    let _ = writeln!(Console, "total {}", total);
    loop {}
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let _ = writeln!(Console, "{}", info);
    unsafe { core::arch::asm!("udf #0", options(noreturn)) }
}
