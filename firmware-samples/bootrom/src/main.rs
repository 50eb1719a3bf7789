//! Dapdeck's own RP2040 boot ROM for the emulated Pico (Raspberry Pi's ROM binary is not ours to
//! ship). It keeps the layout software relies on (RP2040 datasheet 2.8.3 "Bootrom Contents"): the
//! vector table, the 'M' 'u' 0x01 magic at 0x10, 16-bit pointers to the function and data tables
//! at 0x14 and 0x16 and to `rom_table_lookup` at 0x18; functions are found by two-letter codes
//! ('I','F' is 0x4649 = connect_internal_flash, and so on). The flash functions drive the SSI in
//! single-bit SPI with /CS forced through IO_QSPI, as the datasheet describes them.
//!
//! Boot path (datasheet 2.8.1, the steps this emulation has): core 1 sleeps; if the rescue DP set
//! CHIP_RESET.PSM_RESTART_FLAG the ROM clears it and parks; otherwise it reads the first 256
//! bytes of flash (boot2) into the top 256 bytes of SRAM, checks its CRC32 (polynomial 0x04C11DB7,
//! initial value 0xFFFFFFFF, no reflection, no final XOR, over 252 bytes, compared with the last
//! word) and enters it with LR = 0, which tells boot2 it came from the ROM and must go on into the
//! application's vector table. Without a valid boot2 the core sleeps in a WFI loop (the real ROM
//! would go on to USB boot, which is not emulated).
#![no_std]
#![no_main]

use core::arch::global_asm;
use core::ptr::{read_volatile, write_volatile};

global_asm!(
    ".section .rom_header, \"ax\"",
    ".global rom_header",
    "rom_header:",
    ".word 0x20041f00",        // initial SP: below the 256 bytes boot2 is copied to
    ".word rom_reset",         // reset (a Thumb function: the symbol carries the T bit)
    ".word rom_park",          // NMI
    ".word rom_park",          // HardFault
    ".byte 0x4d, 0x75, 0x01, 0x01", // 'M' 'u' 0x01, ROM version 1
    // 0x14..: the 16-bit table pointers and the tables are laid out by link.x (ld.lld has no
    // R_ARM_ABS16 for assembler .hword).
    ".section .rodata.rom_copyright, \"a\"",
    ".global rom_copyright",
    "rom_copyright:",
    ".asciz \"Dapdeck RP2040 boot ROM (emulation)\"",
    ".section .text.rom_park, \"ax\"",
    ".thumb_func",
    ".global rom_park",
    "rom_park:",
    "wfi",
    "b rom_park",
);

// The debugger trampoline (datasheet 2.8.3.1, codes 'D','T' and 'D','E'): a debugger calls a ROM
// function by starting here with its address in r7 and the arguments in r0-r3; the function returns
// to the BKPT at debug_trampoline_end, where the core halts. OpenOCD's rp2040_flash driver calls
// every ROM flash function this way (no breakpoint of its own needed).
global_asm!(
    ".section .text.debug_trampoline, \"ax\"",
    ".thumb_func",
    ".global debug_trampoline",
    "debug_trampoline:",
    "blx r7",
    ".thumb_func",
    ".global debug_trampoline_end",
    "debug_trampoline_end:",
    "bkpt #0",
    "b debug_trampoline",
);

const XIP_CTRL_FLUSH: *mut u32 = 0x1400_0004 as *mut u32;
const SSI: usize = 0x1800_0000;
const SSI_CTRLR0: *mut u32 = SSI as *mut u32;
const SSI_SSIENR: *mut u32 = (SSI + 0x08) as *mut u32;
const SSI_SER: *mut u32 = (SSI + 0x10) as *mut u32;
const SSI_BAUDR: *mut u32 = (SSI + 0x14) as *mut u32;
const SSI_SR: *mut u32 = (SSI + 0x28) as *mut u32;
const SSI_DR0: *mut u32 = (SSI + 0x60) as *mut u32;
const SSI_SPI_CTRLR0: *mut u32 = (SSI + 0xf4) as *mut u32;
const SR_RFNE: u32 = 1 << 3;
const IO_QSPI: usize = 0x4001_8000;
const SS_CTRL: *mut u32 = (IO_QSPI + 0x0c) as *mut u32;
const OUTOVER_LOW: u32 = 2 << 8;
const OUTOVER_HIGH: u32 = 3 << 8;
const PAGE: u32 = 256;
const SECTOR: u32 = 4096;
const BOOT2_RAM: u32 = 0x2004_1f00;
/// VREG_AND_CHIP_RESET.CHIP_RESET and its PSM_RESTART_FLAG (bit 24, write 1 to clear), set by a
/// reset from the rescue DP.
const CHIP_RESET: *mut u32 = 0x4006_4008 as *mut u32;
const PSM_RESTART_FLAG: u32 = 1 << 24;
const SIO_CPUID: *mut u32 = 0xd000_0000 as *mut u32;

fn wr(reg: *mut u32, v: u32) {
    unsafe { write_volatile(reg, v) }
}
fn rd(reg: *mut u32) -> u32 {
    unsafe { read_volatile(reg) }
}

fn cs(low: bool) {
    wr(SS_CTRL, if low { OUTOVER_LOW } else { OUTOVER_HIGH });
}

/// One byte each way through the SSI's FIFOs.
fn put_get(b: u8) -> u8 {
    wr(SSI_DR0, b as u32);
    while rd(SSI_SR) & SR_RFNE == 0 {}
    rd(SSI_DR0) as u8
}

fn command(bytes: &[u8]) {
    cs(true);
    for &b in bytes {
        put_get(b);
    }
    cs(false);
}

fn wait_ready() {
    loop {
        cs(true);
        put_get(0x05);
        let status = put_get(0);
        cs(false);
        if status & 1 == 0 {
            return;
        }
    }
}

fn addr_command(cmd: u8, addr: u32) -> [u8; 4] {
    [cmd, (addr >> 16) as u8, (addr >> 8) as u8, addr as u8]
}

/// Hand the QSPI pins to the SSI (IO_QSPI FUNCSEL 0 = XIP on SCLK, SS and SD0..SD3).
#[no_mangle]
pub extern "C" fn connect_internal_flash() {
    for offset in [0x04usize, 0x0c, 0x14, 0x1c, 0x24, 0x2c] {
        wr((IO_QSPI + offset) as *mut u32, 0);
    }
}

/// SSI to single-bit SPI, 8-bit frames, transmit and receive; leave any continuous-read mode with
/// 0xFF bytes under /CS.
#[no_mangle]
pub extern "C" fn flash_exit_xip() {
    wr(SSI_SSIENR, 0);
    wr(SSI_BAUDR, 6);
    wr(SSI_CTRLR0, 7 << 16);
    wr(SSI_SER, 1);
    wr(SSI_SSIENR, 1);
    command(&[0xff, 0xff, 0xff, 0xff]);
    command(&[0xff, 0xff]);
}

/// Erase `count` bytes from flash offset `addr` (both multiples of 4 KiB), with `block_cmd` over
/// whole `block_size` blocks where they fit and 4 KiB sector erases (20h) elsewhere.
#[no_mangle]
pub extern "C" fn flash_range_erase(addr: u32, count: usize, block_size: u32, block_cmd: u8) {
    let mut a = addr;
    let end = addr + count as u32;
    while a < end {
        let use_block = block_size > SECTOR && a % block_size == 0 && end - a >= block_size;
        command(&[0x06]);
        command(&addr_command(if use_block { block_cmd } else { 0x20 }, a));
        wait_ready();
        a += if use_block { block_size } else { SECTOR };
    }
}

/// Program `count` bytes (a multiple of 256) at flash offset `addr` (256-aligned) from `data`.
#[no_mangle]
pub extern "C" fn flash_range_program(addr: u32, data: *const u8, count: usize) {
    let mut done = 0u32;
    while done < count as u32 {
        command(&[0x06]);
        cs(true);
        for &b in addr_command(0x02, addr + done).iter() {
            put_get(b);
        }
        for i in 0..PAGE {
            put_get(unsafe { read_volatile(data.add((done + i) as usize)) });
        }
        cs(false);
        wait_ready();
        done += PAGE;
    }
}

/// Flush the XIP cache and give /CS back to the SSI.
#[no_mangle]
pub extern "C" fn flash_flush_cache() {
    wr(XIP_CTRL_FLUSH, 1);
    wr(SS_CTRL, 0);
}

/// XIP with the plain 03h read command (serial, 24-bit address).
#[no_mangle]
pub extern "C" fn flash_enter_cmd_xip() {
    wr(SSI_SSIENR, 0);
    wr(SSI_CTRLR0, (3 << 8) | (31 << 16)); // EEPROM read mode, 32-bit frames
    wr(SSI_SPI_CTRLR0, (0x03 << 24) | (2 << 8) | (6 << 2)); // XIP_CMD 03h, 8-bit instruction, 24-bit address
    wr(SSI_SSIENR, 1);
}

#[no_mangle]
pub unsafe extern "C" fn rom_memcpy(dest: *mut u8, src: *const u8, n: u32) -> *mut u8 {
    let mut i = 0;
    while i < n as usize {
        write_volatile(dest.add(i), read_volatile(src.add(i)));
        i += 1;
    }
    dest
}

#[no_mangle]
pub unsafe extern "C" fn rom_memset(ptr: *mut u8, c: u8, n: u32) -> *mut u8 {
    let mut i = 0;
    while i < n as usize {
        write_volatile(ptr.add(i), c);
        i += 1;
    }
    ptr
}

/// The datasheet's `rom_table_lookup(table, code)`: walk (code, pointer) halfword pairs until a 0 code.
#[no_mangle]
pub unsafe extern "C" fn rom_table_lookup(table: *const u16, code: u32) -> *const u8 {
    let mut t = table;
    loop {
        let entry = read_volatile(t) as u32;
        if entry == 0 {
            return core::ptr::null();
        }
        if entry == code {
            return read_volatile(t.add(1)) as usize as *const u8;
        }
        t = t.add(2);
    }
}

fn crc32(data: *const u8, len: u32) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for i in 0..len {
        crc ^= (unsafe { read_volatile(data.add(i as usize)) } as u32) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
    }
    crc
}

extern "C" {
    fn rom_park() -> !;
}

/// Reset: core 1 and a rescue reset park; core 0 connects the flash, copies boot2 to SRAM and
/// enters it if its CRC32 matches.
#[no_mangle]
pub unsafe extern "C" fn rom_reset() -> ! {
    if rd(SIO_CPUID) != 0 {
        rom_park();
    }
    if rd(CHIP_RESET) & PSM_RESTART_FLAG != 0 {
        wr(CHIP_RESET, PSM_RESTART_FLAG);
        rom_park();
    }
    connect_internal_flash();
    flash_exit_xip();
    let boot2 = BOOT2_RAM as *mut u8;
    cs(true);
    for &b in addr_command(0x03, 0).iter() {
        put_get(b);
    }
    for i in 0..256 {
        write_volatile(boot2.add(i), put_get(0));
    }
    cs(false);
    let stored = read_volatile((BOOT2_RAM + 252) as *const u32);
    if crc32(boot2, 252) != stored {
        rom_park();
    }
    // LR = 0: boot2 was entered by the ROM (a call from firmware has a return address there).
    core::arch::asm!("movs r1, #0", "mov lr, r1", "bx r0", in("r0") BOOT2_RAM | 1, options(noreturn))
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    unsafe { rom_park() }
}
