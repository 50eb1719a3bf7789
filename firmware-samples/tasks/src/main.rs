//! tasks: a small cooperative executor (three tasks, two interrupt sources) that records what runs
//! as SystemView events on RTT up channel 1 ("SysView") and logs defmt on channel 0.
//!
//! - SysTick every 1 ms (exception 15): makes `blink` ready every 2nd tick and `report` every 100th.
//! - A hardware timer every 5 ms makes `sensor` ready: on the nRF51 TIMER0 compare 0 (IRQ 8,
//!   exception 24), on the RP2040 the TIMER's ALARM0 (TIMER_IRQ_0, exception 16).
//! - The executor runs ready tasks in priority order, each as TASK_START_EXEC … TASK_STOP_EXEC;
//!   with nothing ready it records IDLE and sleeps (WFI).
//!
//! The host starts recording with command 1 on down channel 1 and stops it with 2; on stop the
//! firmware logs what it recorded (`trace stopped: …` with its own counts), so a test can compare
//! the host's timeline with the firmware's books.
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
#[allow(dead_code)]
#[path = "../../common/sysview.rs"]
mod sysview;
#[cfg(board = "rp2040")]
#[allow(dead_code)]
#[path = "../../common/rp2040.rs"]
mod rp2040;
#[macro_use]
extern crate defmt_macros;

use core::sync::atomic::{AtomicU32, Ordering};

#[cfg(board = "microbit")]
const CORE_HZ: u32 = 16_000_000;
/// clk_sys from the crystal and PLL_SYS (rp2040::clocks_init).
#[cfg(board = "rp2040")]
const CORE_HZ: u32 = 125_000_000;
const SYSTICK_RELOAD: u32 = CORE_HZ / 1000 - 1;
const SENSOR_PERIOD_US: u32 = 5000;

// nRF51 TIMER0 (QEMU models it): 1 MHz (prescaler 4), compare 0 every 5000 µs, clear on compare.
#[cfg(board = "microbit")]
const TIMER0: u32 = 0x4000_8000;
#[cfg(board = "microbit")]
const TIMER_IRQ: u32 = 8;

// RP2040 TIMER (datasheet 4.6): a 1 MHz count; ALARM0 fires TIMER_IRQ_0 when TIMELR reaches it.
#[cfg(board = "rp2040")]
const TIMER: u32 = 0x4005_4000;
#[cfg(board = "rp2040")]
const TIMER_IRQ: u32 = 0;

const BLINK: u32 = 1;
const SENSOR: u32 = 2;
const REPORT: u32 = 3;

static TASKS: [sysview::Task; 3] = [
    sysview::Task { id: BLINK, priority: 1, name: b"blink" },
    sysview::Task { id: SENSOR, priority: 2, name: b"sensor" },
    sysview::Task { id: REPORT, priority: 3, name: b"report" },
];

#[cfg(board = "microbit")]
static CONFIG: sysview::Config = sysview::Config {
    sys_freq: CORE_HZ,
    cpu_freq: CORE_HZ,
    ram_base: 0x2000_0000,
    description: b"N=tasks,D=nRF51822,O=dapdeck executor,I#15=SysTick,I#24=TIMER0",
    tasks: &TASKS,
};

/// Timestamps are the TIMER's microseconds.
#[cfg(board = "rp2040")]
static CONFIG: sysview::Config = sysview::Config {
    sys_freq: 1_000_000,
    cpu_freq: CORE_HZ,
    ram_base: 0x2000_0000,
    description: b"N=tasks,D=RP2040,O=dapdeck executor,I#15=SysTick,I#16=TIMER_IRQ_0",
    tasks: &TASKS,
};

static TICKS: AtomicU32 = AtomicU32::new(0);
/// Wake-ups posted by interrupts, per task; the executor consumes them by counting its own runs.
static POSTED: [AtomicU32; 4] = [AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)];

#[no_mangle]
fn defmt_timestamp() -> u64 {
    TICKS.load(Ordering::Relaxed) as u64 * 1000
}

#[cfg(board = "microbit")]
static mut LAST_TIMESTAMP: u32 = 0;

/// SysTick-based cycle count (16 MHz ticks); called with interrupts masked. A tick that is pending
/// has already wrapped the counter: count it. The counter can also be seen wrapped a moment before
/// the tick is pending (QEMU computes it from its clock): a time that would go backwards is one
/// SysTick period later instead.
#[cfg(board = "microbit")]
#[no_mangle]
fn sysview_timestamp() -> u32 {
    let ticks = TICKS.load(Ordering::Relaxed);
    let cvr = rt::read_reg(0xE000_E018);
    let pending = rt::read_reg(0xE000_ED04) & (1 << 26) != 0;
    let ticks = if pending && cvr > SYSTICK_RELOAD / 2 { ticks.wrapping_add(1) } else { ticks };
    let mut now = ticks.wrapping_mul(SYSTICK_RELOAD + 1).wrapping_add(SYSTICK_RELOAD - cvr);
    unsafe {
        if (now.wrapping_sub(LAST_TIMESTAMP) as i32) < 0 {
            now = now.wrapping_add(SYSTICK_RELOAD + 1);
        }
        LAST_TIMESTAMP = now;
    }
    now
}

fn post(task: u32) {
    let p = &POSTED[task as usize];
    p.store(p.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    sysview::task_ready(task);
}

#[no_mangle]
pub extern "C" fn SysTick() {
    let now = TICKS.load(Ordering::Relaxed).wrapping_add(1);
    TICKS.store(now, Ordering::Relaxed);
    sysview::isr_enter(15);
    if now % 2 == 0 {
        post(BLINK);
    }
    if now % 100 == 0 {
        post(REPORT);
    }
    sysview::isr_exit();
}

/// The TIMER's raw microsecond count (TIMERAWL: reading it latches nothing).
#[cfg(board = "rp2040")]
#[no_mangle]
fn sysview_timestamp() -> u32 {
    rt::read_reg(TIMER + 0x28)
}

#[cfg(board = "microbit")]
#[no_mangle]
pub extern "C" fn IRQ8() {
    sysview::isr_enter(16 + TIMER_IRQ);
    rt::write_reg(TIMER0 + 0x140, 0); // EVENTS_COMPARE[0]
    post(SENSOR);
    sysview::isr_exit();
}

#[cfg(board = "microbit")]
fn timer_start() {
    rt::write_reg(TIMER0 + 0x504, 0); // MODE = timer
    rt::write_reg(TIMER0 + 0x508, 3); // BITMODE = 32 bit
    rt::write_reg(TIMER0 + 0x510, 4); // PRESCALER: 16 MHz / 2^4 = 1 MHz
    rt::write_reg(TIMER0 + 0x540, SENSOR_PERIOD_US); // CC[0]
    rt::write_reg(TIMER0 + 0x200, 1); // SHORTS: COMPARE0 → CLEAR
    rt::write_reg(TIMER0 + 0x304, 1 << 16); // INTENSET: COMPARE0
    rt::write_reg(0xE000_E100, 1 << TIMER_IRQ); // NVIC ISER
    rt::write_reg(TIMER0 + 0x000, 1); // TASKS_START
}

/// TIMER_IRQ_0: acknowledge ALARM0 (INTR is write-1-to-clear) and arm it one period after the
/// time it was due, so the period does not drift with interrupt latency.
#[cfg(board = "rp2040")]
#[no_mangle]
pub extern "C" fn IRQ0() {
    sysview::isr_enter(16 + TIMER_IRQ);
    rt::write_reg(TIMER + 0x34, 1); // INTR: clear ALARM0
    rt::write_reg(TIMER + 0x10, rt::read_reg(TIMER + 0x10).wrapping_add(SENSOR_PERIOD_US)); // ALARM0
    post(SENSOR);
    sysview::isr_exit();
}

#[cfg(board = "rp2040")]
fn timer_start() {
    rt::write_reg(TIMER + 0x38, 1); // INTE: ALARM0
    rt::write_reg(0xE000_E100, 1 << TIMER_IRQ); // NVIC ISER
    rt::write_reg(TIMER + 0x10, rt::read_reg(TIMER + 0x28).wrapping_add(SENSOR_PERIOD_US)); // ALARM0 (arms it)
}

/// Some work whose length depends on `n`, so tasks take measurable, different times.
fn work(n: u32) -> u32 {
    let mut x = n;
    for i in 0..n {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223 ^ i);
    }
    x
}

static mut RUNS: [u32; 4] = [0; 4];
static mut TRACING: bool = false;

fn main() -> ! {
    #[cfg(board = "rp2040")]
    rp2040::clocks_init();
    rtt::init_named([b"Terminal\0", b"SysView\0", b"Text\0"], [b"Terminal\0", b"SysView\0"]);
    #[cfg(board = "microbit")]
    info!("tasks: blink every 2 ms, sensor on TIMER0 every 5 ms, report every 100 ms");
    #[cfg(board = "rp2040")]
    info!("tasks: blink every 2 ms, sensor on TIMER ALARM0 every 5 ms, report every 100 ms");
    rt::systick_start(SYSTICK_RELOAD);
    timer_start();
    let mut consumed = [0u32; 4];
    let mut sink = 0u32;
    loop {
        sysview::poll(&CONFIG);
        let tracing = sysview::enabled();
        unsafe {
            if TRACING && !tracing {
                let c = sysview::COUNTS;
                info!(
                    "trace stopped: systick={=u32} timer0={=u32} blink={=u32} sensor={=u32} report={=u32} packets={=u32} dropped={=u32}",
                    c.isr_enter[15], c.isr_enter[16 + TIMER_IRQ as usize], c.task_start[1], c.task_start[2], c.task_start[3], c.packets, c.dropped
                );
            }
            TRACING = tracing;
        }
        // Highest priority first: report, sensor, blink.
        let mut ran = false;
        for &task in &[REPORT, SENSOR, BLINK] {
            let posted = POSTED[task as usize].load(Ordering::Relaxed);
            if posted == consumed[task as usize] {
                continue;
            }
            consumed[task as usize] = consumed[task as usize].wrapping_add(1);
            sysview::task_start(task);
            sink ^= match task {
                BLINK => work(200),
                SENSOR => work(600),
                _ => work(1500),
            };
            unsafe { RUNS[task as usize] += 1 };
            if task == REPORT {
                unsafe {
                    debug!("report: blink ran {=u32} times, sensor {=u32}, work {=u32:#x}", RUNS[1], RUNS[2], sink);
                }
            }
            sysview::task_stop();
            ran = true;
            break;
        }
        if !ran {
            sysview::idle();
            rt::wfi();
        }
    }
}
