//! The minimal Cortex-M runtime every sample shares: vector table, reset handler (copy `.data`
//! from its load address in flash, zero `.bss`, call `main`), default handlers, panic handler.
//! A sample defines `fn main() -> !` and any `#[no_mangle] extern "C" fn SysTick()` / `IRQn()`.

use core::ptr;

extern "C" {
    static mut _sdata: u32;
    static mut _edata: u32;
    static _sidata: u32;
    static mut _sbss: u32;
    static mut _ebss: u32;
    fn NMI();
    fn HardFault();
    fn SVCall();
    fn PendSV();
    fn SysTick();
    fn IRQ0(); fn IRQ1(); fn IRQ2(); fn IRQ3(); fn IRQ4(); fn IRQ5(); fn IRQ6(); fn IRQ7();
    fn IRQ8(); fn IRQ9(); fn IRQ10(); fn IRQ11(); fn IRQ12(); fn IRQ13(); fn IRQ14(); fn IRQ15();
    fn IRQ16(); fn IRQ17(); fn IRQ18(); fn IRQ19(); fn IRQ20(); fn IRQ21(); fn IRQ22(); fn IRQ23();
    fn IRQ24(); fn IRQ25(); fn IRQ26(); fn IRQ27(); fn IRQ28(); fn IRQ29(); fn IRQ30(); fn IRQ31();
}

#[doc(hidden)]
pub union Vector {
    handler: unsafe extern "C" fn(),
    reserved: usize,
}

/// The Pico's boot2 (firmware-samples/boot2, padded and checksummed at build time): the first 256
/// bytes of flash, which the RP2040 boot ROM checks and runs before it enters this image.
#[cfg(board = "rp2040")]
#[doc(hidden)]
#[link_section = ".boot2"]
#[no_mangle]
#[used]
pub static BOOT2: [u8; 256] = *include_bytes!(env!("DAPDECK_BOOT2"));

#[doc(hidden)]
#[link_section = ".vector_table.reset"]
#[no_mangle]
pub static RESET_VECTOR: unsafe extern "C" fn() -> ! = Reset;

#[doc(hidden)]
#[link_section = ".vector_table.exceptions"]
#[no_mangle]
pub static EXCEPTIONS: [Vector; 14] = [
    Vector { handler: NMI },
    Vector { handler: HardFault },
    Vector { reserved: 0 }, // MemManage (v7-M; reserved on v6-M)
    Vector { reserved: 0 }, // BusFault
    Vector { reserved: 0 }, // UsageFault
    Vector { reserved: 0 },
    Vector { reserved: 0 },
    Vector { reserved: 0 },
    Vector { reserved: 0 },
    Vector { handler: SVCall },
    Vector { reserved: 0 }, // DebugMonitor
    Vector { reserved: 0 },
    Vector { handler: PendSV },
    Vector { handler: SysTick },
];

#[doc(hidden)]
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
pub static INTERRUPTS: [Vector; 32] = [
    Vector { handler: IRQ0 }, Vector { handler: IRQ1 }, Vector { handler: IRQ2 }, Vector { handler: IRQ3 },
    Vector { handler: IRQ4 }, Vector { handler: IRQ5 }, Vector { handler: IRQ6 }, Vector { handler: IRQ7 },
    Vector { handler: IRQ8 }, Vector { handler: IRQ9 }, Vector { handler: IRQ10 }, Vector { handler: IRQ11 },
    Vector { handler: IRQ12 }, Vector { handler: IRQ13 }, Vector { handler: IRQ14 }, Vector { handler: IRQ15 },
    Vector { handler: IRQ16 }, Vector { handler: IRQ17 }, Vector { handler: IRQ18 }, Vector { handler: IRQ19 },
    Vector { handler: IRQ20 }, Vector { handler: IRQ21 }, Vector { handler: IRQ22 }, Vector { handler: IRQ23 },
    Vector { handler: IRQ24 }, Vector { handler: IRQ25 }, Vector { handler: IRQ26 }, Vector { handler: IRQ27 },
    Vector { handler: IRQ28 }, Vector { handler: IRQ29 }, Vector { handler: IRQ30 }, Vector { handler: IRQ31 },
];

#[doc(hidden)]
#[no_mangle]
pub unsafe extern "C" fn Reset() -> ! {
    // .data: copy initialisers from flash (LMA) to RAM (VMA); .bss: zero. Volatile so the compiler
    // cannot turn these loops into calls that would run before memory is ready.
    let mut src = &_sidata as *const u32;
    let mut dst = &mut _sdata as *mut u32;
    let end = &mut _edata as *mut u32;
    while dst < end {
        ptr::write_volatile(dst, ptr::read(src));
        dst = dst.add(1);
        src = src.add(1);
    }
    let mut bss = &mut _sbss as *mut u32;
    let bss_end = &mut _ebss as *mut u32;
    while bss < bss_end {
        ptr::write_volatile(bss, 0);
        bss = bss.add(1);
    }
    crate::main()
}

#[doc(hidden)]
#[no_mangle]
pub unsafe extern "C" fn DefaultHandler() {
    loop {}
}

// Samples that report panics themselves build with `--cfg own_panic_handler` (their `rustflags` file).
#[cfg(not(own_panic_handler))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// Memory-mapped register access.
#[inline(always)]
pub fn write_reg(address: u32, value: u32) {
    unsafe { ptr::write_volatile(address as *mut u32, value) }
}

#[inline(always)]
pub fn read_reg(address: u32) -> u32 {
    unsafe { ptr::read_volatile(address as *const u32) }
}

/// Start SysTick from the core clock with the given reload value and its interrupt enabled.
pub fn systick_start(reload: u32) {
    const SYST_CSR: u32 = 0xE000_E010;
    const SYST_RVR: u32 = 0xE000_E014;
    const SYST_CVR: u32 = 0xE000_E018;
    write_reg(SYST_RVR, reload & 0x00FF_FFFF);
    write_reg(SYST_CVR, 0);
    write_reg(SYST_CSR, 0b111); // CLKSOURCE = core clock, TICKINT, ENABLE
}

#[inline(always)]
pub fn wfi() {
    unsafe { core::arch::asm!("wfi", options(nomem, nostack)) }
}
