//! A SystemView event recorder (SEGGER's packet format, this project's own code): packets go to an
//! RTT up channel named "SysView"; the host starts and stops recording with one-byte commands on
//! the down channel of the same index (1 start, 2 stop).
//!
//! Packet: <ID> <varint params…> <varint timestamp delta>, IDs ≥ 24 with a varint length before
//! the payload. A packet that does not fit the channel is dropped whole and counted; the next one
//! that fits is preceded by an OVERFLOW packet carrying the count, as SEGGER's library does.

use crate::rtt;

pub const CHANNEL: usize = 1;

pub const OVERFLOW: u8 = 1;
pub const ISR_ENTER: u8 = 2;
pub const ISR_EXIT: u8 = 3;
pub const TASK_START_EXEC: u8 = 4;
pub const TASK_STOP_EXEC: u8 = 5;
pub const TASK_START_READY: u8 = 6;
pub const TASK_STOP_READY: u8 = 7;
pub const TASK_INFO: u8 = 9;
pub const TRACE_START: u8 = 10;
pub const TRACE_STOP: u8 = 11;
pub const SYSTIME_CYCLES: u8 = 12;
pub const SYSDESC: u8 = 14;
pub const IDLE: u8 = 17;
pub const INIT: u8 = 24;
pub const PRINT_FORMATTED: u8 = 26;

pub struct Task {
    pub id: u32,
    pub priority: u32,
    pub name: &'static [u8],
}

pub struct Config {
    pub sys_freq: u32,
    pub cpu_freq: u32,
    pub ram_base: u32,
    pub description: &'static [u8],
    pub tasks: &'static [Task],
}

/// What was recorded while tracing was on, by kind: the sample reports these so a test can check
/// the host's timeline against the firmware's own books.
#[derive(Clone, Copy)]
pub struct Counts {
    pub packets: u32,
    pub dropped: u32,
    pub isr_enter: [u32; 32],
    pub task_start: [u32; 8],
}

pub static mut COUNTS: Counts = Counts { packets: 0, dropped: 0, isr_enter: [0; 32], task_start: [0; 8] };
static mut ENABLED: bool = false;
static mut LAST: u32 = 0;
static mut PENDING_DROPS: u32 = 0;

extern "Rust" {
    /// Timestamp in `sys_freq` ticks; defined by the sample.
    fn sysview_timestamp() -> u32;
}

pub fn enabled() -> bool {
    unsafe { core::ptr::read_volatile(&ENABLED) }
}

fn varint(buf: &mut [u8; 48], n: &mut usize, mut v: u32) {
    while v > 0x7f {
        buf[*n] = (v as u8) | 0x80;
        *n += 1;
        v >>= 7;
    }
    buf[*n] = v as u8;
    *n += 1;
}

/// A SystemView string: a count byte, then at most `limit` bytes.
fn string(buf: &mut [u8; 48], n: &mut usize, text: &[u8], limit: usize) {
    let len = if text.len() > limit { limit } else { text.len() };
    buf[*n] = len as u8;
    *n += 1;
    buf[*n..*n + len].copy_from_slice(&text[..len]);
    *n += len;
}

/// Build and send one packet with interrupts masked (thread mode and ISRs both record).
fn send(id: u8, params: &[u32], text: Option<&[u8]>) -> bool {
    let primask = interrupts_off();
    let ok = unsafe { send_locked(id, params, text) };
    interrupts_restore(primask);
    ok
}

unsafe fn send_locked(id: u8, params: &[u32], text: Option<&[u8]>) -> bool {
    if !ENABLED {
        return false;
    }
    if PENDING_DROPS > 0 && !write_packet(OVERFLOW, &[PENDING_DROPS], None) {
        PENDING_DROPS += 1;
        COUNTS.dropped += 1;
        return false;
    }
    PENDING_DROPS = 0;
    if write_packet(id, params, text) {
        COUNTS.packets += 1;
        true
    } else {
        PENDING_DROPS += 1;
        COUNTS.dropped += 1;
        false
    }
}

unsafe fn write_packet(id: u8, params: &[u32], text: Option<&[u8]>) -> bool {
    let mut buf = [0u8; 48];
    let mut n = 0;
    buf[n] = id;
    n += 1;
    if id >= 24 {
        // Length-carrying packet: an optional string (count byte + bytes), then varints.
        let mut payload = [0u8; 48];
        let mut p = 0;
        if let Some(t) = text {
            string(&mut payload, &mut p, t, 24);
        }
        for &v in params {
            varint(&mut payload, &mut p, v);
        }
        buf[n] = p as u8;
        n += 1;
        buf[n..n + p].copy_from_slice(&payload[..p]);
        n += p;
    } else {
        for &v in params {
            varint(&mut buf, &mut n, v);
        }
        if let Some(t) = text {
            string(&mut buf, &mut n, t, 32);
        }
    }
    let now = sysview_timestamp();
    varint(&mut buf, &mut n, now.wrapping_sub(LAST));
    if rtt::write(CHANNEL, &buf[..n]) {
        LAST = now;
        true
    } else {
        false
    }
}

/// Handle host commands; call it from the main loop.
pub fn poll(config: &Config) {
    let mut cmd = [0u8; 4];
    let n = rtt::read(CHANNEL, &mut cmd);
    for &c in &cmd[..n] {
        match c {
            1 => start(config),
            2 => stop(),
            _ => {}
        }
    }
}

fn start(config: &Config) {
    let primask = interrupts_off();
    unsafe {
        if ENABLED {
            interrupts_restore(primask);
            return;
        }
        ENABLED = true;
        COUNTS = Counts { packets: 0, dropped: 0, isr_enter: [0; 32], task_start: [0; 8] };
        LAST = sysview_timestamp();
        // TRACE_START first, before any interrupt can send an event (the mirror of stop()).
        send_locked(TRACE_START, &[], None);
    }
    interrupts_restore(primask);
    send(INIT, &[config.sys_freq, config.cpu_freq, config.ram_base, 0], None);
    send_description(config.description);
    send(SYSTIME_CYCLES, &[unsafe { sysview_timestamp() }], None);
    for t in config.tasks {
        send(TASK_INFO, &[t.id, t.priority], Some(t.name));
    }
    print(0, b"recording started");
}

/// Text for the host's log (SEGGER_SYSVIEW_Print style): level 0 log, 1 warning, 2 error; no
/// arguments (the host formats printf-style when there are).
pub fn print(level: u32, text: &[u8]) {
    send(PRINT_FORMATTED, &[level, 0], Some(text));
}

/// The description may be longer than one packet allows: send it in pieces at commas.
fn send_description(d: &[u8]) {
    let mut start = 0;
    while start < d.len() {
        let mut end = if d.len() - start > 32 { start + 32 } else { d.len() };
        if end < d.len() {
            while end > start && d[end] != b',' {
                end -= 1;
            }
        }
        send(SYSDESC, &[], Some(&d[start..end]));
        start = end + 1;
    }
}

/// TRACE_STOP and the end of recording in one step with interrupts off: an interrupt between
/// them would send (and count) an event after the host has seen the stop.
fn stop() {
    let primask = interrupts_off();
    unsafe {
        send_locked(TRACE_STOP, &[], None);
        core::ptr::write_volatile(&mut ENABLED, false);
    }
    interrupts_restore(primask);
}

pub fn isr_enter(exception: u32) {
    if send(ISR_ENTER, &[exception], None) {
        unsafe { COUNTS.isr_enter[(exception & 31) as usize] += 1 };
    }
}
pub fn isr_exit() {
    send(ISR_EXIT, &[], None);
}
pub fn task_ready(id: u32) {
    send(TASK_START_READY, &[id], None);
}
pub fn task_start(id: u32) {
    if send(TASK_START_EXEC, &[id], None) {
        unsafe { COUNTS.task_start[(id & 7) as usize] += 1 };
    }
}
pub fn task_stop() {
    send(TASK_STOP_EXEC, &[], None);
}
pub fn idle() {
    send(IDLE, &[], None);
}

fn interrupts_off() -> u32 {
    let primask: u32;
    unsafe { core::arch::asm!("mrs {0}, PRIMASK", "cpsid i", out(reg) primask) };
    primask
}

fn interrupts_restore(primask: u32) {
    if primask & 1 == 0 {
        unsafe { core::arch::asm!("cpsie i") };
    }
}
