//! Flash algorithm for the RP2040's external QSPI flash (the Pico's 2 MiB W25Q16JV at XIP address
//! 0x10000000), in the CMSIS-Pack .FLM form. The RP2040 has no flash controller: the boot ROM's
//! flash functions drive the SSI, so this algorithm finds them as the RP2040 datasheet (2.8.3
//! "Bootrom Contents") says software must: the 16-bit pointer at 0x14 to the function table, the
//! 16-bit pointer at 0x18 to `rom_table_lookup(table, code)`, and each function by its two-letter
//! code ('I','F' = connect_internal_flash and so on).
//!
//! Init(_, _, 1 or 2) hands the QSPI pins to the SSI and leaves XIP (flash_exit_xip), so erase and
//! program commands can be sent; Init(_, _, 3) and UnInit put XIP back with the plain serial read
//! command (flash_flush_cache + flash_enter_cmd_xip), so the host's verify (CRCs read through XIP)
//! and the firmware after a reset see the new contents, as on a real Pico after flashing.
//!
//! There is no EraseChip: erasing the whole 2 MiB takes the flash about 5 s (32 block erases of
//! 150 ms), far longer than the few sectors an image usually touches, so a host must never prefer
//! it (the host then erases sector by sector, which for a whole-flash erase is slower still).
//!
//! It touches no static data: the ROM functions are looked up on each call (a walk of a few
//! table entries), so it runs wherever it is loaded without relocation.
#![no_std]
#![no_main]

#[path = "../../common/flash_algorithm.rs"]
mod flash_algorithm;
use flash_algorithm::{device_name, FlashDeviceDescription};

use core::ptr::read_volatile;

const XIP_BASE: u32 = 0x1000_0000;
/// The Pico's W25Q16JV: 16 Mbit.
const FLASH_SIZE: u32 = 2 * 1024 * 1024;
/// The flash's erase sector (command 20h).
const SECTOR_SIZE: u32 = 4096;
/// The flash's 64 KiB block erase (D8h), as flash_range_erase takes it: the ROM uses it only where
/// a whole aligned block is asked for, never for the single sectors asked for here.
const BLOCK_SIZE: u32 = 65536;
const BLOCK_ERASE_CMD: u32 = 0xD8;
/// The flash programs 256-byte pages; one ProgramPage call takes up to a sector of them (the ROM
/// loops over the pages), saving the host fifteen of every sixteen calls.
const FLASH_PAGE: u32 = 256;
const PROGRAM_SIZE: u32 = 4096;

/// The ROM's two-letter function codes: c1 | c2 << 8.
const fn code(c1: u8, c2: u8) -> u32 {
    c1 as u32 | (c2 as u32) << 8
}

/// A ROM function by its code, found through the ROM's own lookup; 0 when the ROM lacks it.
fn rom_func(c: u32) -> usize {
    unsafe {
        let table = read_volatile(0x14 as *const u16) as u32;
        let lookup = read_volatile(0x18 as *const u16) as usize;
        let lookup: extern "C" fn(u32, u32) -> u32 = core::mem::transmute(lookup);
        lookup(table, c) as usize
    }
}

/// Call a ROM function taking no arguments; false when the ROM does not have it.
fn rom_call0(c: u32) -> bool {
    let f = rom_func(c);
    if f == 0 {
        return false;
    }
    let f: extern "C" fn() = unsafe { core::mem::transmute(f) };
    f();
    true
}

const CONNECT_INTERNAL_FLASH: u32 = code(b'I', b'F');
const FLASH_EXIT_XIP: u32 = code(b'E', b'X');
const FLASH_RANGE_ERASE: u32 = code(b'R', b'E');
const FLASH_RANGE_PROGRAM: u32 = code(b'R', b'P');
const FLASH_FLUSH_CACHE: u32 = code(b'F', b'C');
const FLASH_ENTER_CMD_XIP: u32 = code(b'C', b'X');

/// Back to reading through XIP (serial 03h reads, which every flash answers) with an empty cache.
fn enter_xip() -> bool {
    rom_call0(FLASH_FLUSH_CACHE) && rom_call0(FLASH_ENTER_CMD_XIP)
}

#[no_mangle]
pub extern "C" fn Init(_address: u32, _clock: u32, function: u32) -> u32 {
    if !rom_call0(CONNECT_INTERNAL_FLASH) || !rom_call0(FLASH_EXIT_XIP) {
        return 1;
    }
    // Verify reads flash through XIP; erase and program need the SSI in command mode.
    if function == 3 && !enter_xip() {
        return 1;
    }
    0
}

#[no_mangle]
pub extern "C" fn UnInit(_function: u32) -> u32 {
    if enter_xip() {
        0
    } else {
        1
    }
}

#[no_mangle]
pub extern "C" fn EraseSector(address: u32) -> u32 {
    let offset = address.wrapping_sub(XIP_BASE);
    if offset % SECTOR_SIZE != 0 || offset >= FLASH_SIZE {
        return 1;
    }
    let f = rom_func(FLASH_RANGE_ERASE);
    if f == 0 {
        return 1;
    }
    // flash_range_erase(offset, count, block_size, block_cmd): one 4 KiB sector (20h).
    let f: extern "C" fn(u32, u32, u32, u32) = unsafe { core::mem::transmute(f) };
    f(offset, SECTOR_SIZE, BLOCK_SIZE, BLOCK_ERASE_CMD);
    0
}

/// Program `size` bytes (whole 256-byte flash pages) at `address` from the RAM buffer `data`.
#[no_mangle]
pub extern "C" fn ProgramPage(address: u32, size: u32, data: *const u8) -> u32 {
    let offset = address.wrapping_sub(XIP_BASE);
    if offset % FLASH_PAGE != 0 || size % FLASH_PAGE != 0 || offset >= FLASH_SIZE || size > FLASH_SIZE - offset {
        return 1;
    }
    let f = rom_func(FLASH_RANGE_PROGRAM);
    if f == 0 {
        return 1;
    }
    let f: extern "C" fn(u32, *const u8, u32) = unsafe { core::mem::transmute(f) };
    f(offset, data, size);
    0
}

#[no_mangle]
#[link_section = "DevDscr"]
pub static FlashDevice: FlashDeviceDescription = FlashDeviceDescription {
    version: 0x0101,
    name: device_name(b"RP2040 2 MiB QSPI Flash via boot ROM (Dapdeck)"),
    device_type: 5, // external SPI flash (FlashOS.h EXTSPI)
    start: XIP_BASE,
    size: FLASH_SIZE,
    page_size: PROGRAM_SIZE,
    reserved: 0,
    erased_value: 0xFF,
    // W25Q16JV maximum times: tPP 3 ms a page (16 per call), tSE 400 ms a sector; room to spare.
    program_timeout_ms: 1000,
    erase_timeout_ms: 3000,
    sectors: [[SECTOR_SIZE, 0], [0xFFFF_FFFF, 0xFFFF_FFFF]],
};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
