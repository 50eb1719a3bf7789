//! hello: the smallest useful firmware for the bench. Every SysTick (10 ms of guest time) it sends
//! `hello from dapdeck #N` on RTT up channel 0, and echoes whatever the host writes to down
//! channel 0 back on up channel 1 as `echo: …`.
#![no_std]
#![no_main]

#[allow(dead_code)]
#[path = "../../common/rt.rs"]
mod rt;
#[allow(dead_code)]
#[path = "../../common/rtt.rs"]
mod rtt;

use core::sync::atomic::{AtomicU32, Ordering};

/// Core clock: the nRF51 runs at 16 MHz; QEMU's LM3S6965 model at 12 MHz (its crystal, no PLL).
#[cfg(board = "microbit")]
const CORE_HZ: u32 = 16_000_000;
#[cfg(board = "lm3s6965evb")]
const CORE_HZ: u32 = 12_000_000;

static TICKS: AtomicU32 = AtomicU32::new(0);

#[no_mangle]
pub extern "C" fn SysTick() {
    // Only this handler writes TICKS, so load+store is enough (ARMv6-M has no atomic read-modify-write).
    TICKS.store(TICKS.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

fn main() -> ! {
    rtt::init();
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
            rtt::write(0, &line[..n + 1]);
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
