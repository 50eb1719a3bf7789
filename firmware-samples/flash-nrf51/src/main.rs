//! Flash algorithm for the nRF51 NVMC (nRF51 Series Reference Manual v3.0, chapter 6 "NVMC"),
//! in the CMSIS-Pack .FLM form: the host loads it into RAM and calls the entry points below.
//! It programs the code flash (0x0, 256 KiB) and the UICR (0x10001000, erased as a whole by
//! ERASEUICR): a target file may give it either range.
//!
//! It touches no static data (only registers, the stack and PC-relative literals), so it runs
//! wherever it is loaded without relocation. Every function returns 0 on success, as the CMSIS
//! flash algorithm interface specifies (Verify: the end address on success).
//!
//! Built twice (see `variants`): as is, every erase and write sets the NVMC mode itself; with
//! `--cfg mode_in_init` (the "vendor-style" variant) the mode is set only by Init(adr, clk, fnc),
//! erase-enable for fnc 1 and write-enable for fnc 2, as Nordic's own algorithms do. That variant
//! programs nothing for a host that does not call Init with the right fnc before each phase.
#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

#[path = "../../common/flash_algorithm.rs"]
mod flash_algorithm;
use flash_algorithm::{device_name, FlashDeviceDescription};

const NVMC_READY: u32 = 0x4001_E400;
const NVMC_CONFIG: u32 = 0x4001_E504;
const NVMC_ERASEPAGE: u32 = 0x4001_E508;
const NVMC_ERASEALL: u32 = 0x4001_E50C;
const NVMC_ERASEUICR: u32 = 0x4001_E514;
const UICR_START: u32 = 0x1000_1000;
/// UICR registers end with CUSTOMER[31] at 0x100010FC (reference manual v3.0, chapter 7).
const UICR_SIZE: u32 = 0x100;
const CONFIG_REN: u32 = 0;
const CONFIG_WEN: u32 = 1;
const CONFIG_EEN: u32 = 2;
const PAGE_SIZE: u32 = 1024;
/// The most one ProgramPage call takes (FlashDevice.szPage): the NVMC writes word by word, so any
/// size works; 4 KiB per call saves the host three of every four calls (each a register setup and
/// halt polls: 1 ms a report on a v1 HID probe), and two buffers of it still fit the 16 KiB RAM.
const PROGRAM_PAGE_SIZE: u32 = 4096;
const FLASH_SIZE: u32 = 256 * 1024;

#[inline(always)]
fn write(address: u32, value: u32) {
    unsafe { write_volatile(address as *mut u32, value) }
}

#[inline(always)]
fn read(address: u32) -> u32 {
    unsafe { read_volatile(address as *const u32) }
}

/// The NVMC sets READY when an erase or a word write has finished.
#[inline(always)]
fn wait_ready() {
    while read(NVMC_READY) & 1 == 0 {}
}

/// The NVMC mode for an erase or a write: set around each operation, or (vendor-style) left as Init set it.
#[inline(always)]
fn enter_mode(mode: u32) {
    if cfg!(not(mode_in_init)) {
        write(NVMC_CONFIG, mode);
    }
}

#[inline(always)]
fn leave_mode() {
    if cfg!(not(mode_in_init)) {
        write(NVMC_CONFIG, CONFIG_REN);
    }
}

/// [address, address+size) inside the code flash or inside the UICR.
#[inline(always)]
fn programmable(address: u32, size: u32) -> bool {
    (address < FLASH_SIZE && size <= FLASH_SIZE - address) || (address >= UICR_START && address - UICR_START < UICR_SIZE && size <= UICR_SIZE - (address - UICR_START))
}

#[no_mangle]
pub extern "C" fn Init(_address: u32, _clock: u32, function: u32) -> u32 {
    let mode = if cfg!(mode_in_init) && function == 1 {
        CONFIG_EEN
    } else if cfg!(mode_in_init) && function == 2 {
        CONFIG_WEN
    } else {
        CONFIG_REN
    };
    write(NVMC_CONFIG, mode);
    0
}

#[no_mangle]
pub extern "C" fn UnInit(_function: u32) -> u32 {
    write(NVMC_CONFIG, CONFIG_REN);
    0
}

#[no_mangle]
pub extern "C" fn EraseChip() -> u32 {
    enter_mode(CONFIG_EEN);
    write(NVMC_ERASEALL, 1);
    wait_ready();
    leave_mode();
    0
}

#[no_mangle]
pub extern "C" fn EraseSector(address: u32) -> u32 {
    if address == UICR_START {
        enter_mode(CONFIG_EEN);
        write(NVMC_ERASEUICR, 1);
    } else if address % PAGE_SIZE == 0 && address < FLASH_SIZE {
        enter_mode(CONFIG_EEN);
        write(NVMC_ERASEPAGE, address);
    } else {
        return 1;
    }
    wait_ready();
    leave_mode();
    0
}

/// Program `size` bytes (a multiple of 4) at `address` from the RAM buffer `data`, a word at a time.
#[no_mangle]
pub extern "C" fn ProgramPage(address: u32, size: u32, data: *const u8) -> u32 {
    if address % 4 != 0 || size % 4 != 0 || !programmable(address, size) {
        return 1;
    }
    enter_mode(CONFIG_WEN);
    let mut offset = 0;
    while offset < size {
        let word = unsafe { core::ptr::read_unaligned(data.add(offset as usize) as *const u32) };
        write(address + offset, word);
        wait_ready();
        offset += 4;
    }
    leave_mode();
    0
}

#[no_mangle]
#[link_section = "DevDscr"]
pub static FlashDevice: FlashDeviceDescription = FlashDeviceDescription {
    version: 0x0101,
    name: device_name(b"nRF51xxx 256 KiB Flash (Dapdeck)"),
    device_type: 1, // on-chip flash
    start: 0,
    size: FLASH_SIZE,
    page_size: PROGRAM_PAGE_SIZE,
    reserved: 0,
    erased_value: 0xFF,
    program_timeout_ms: 100,
    erase_timeout_ms: 3000,
    // {sector size, start offset}, then the 0xFFFFFFFF end marker.
    sectors: [[PAGE_SIZE, 0], [0xFFFF_FFFF, 0xFFFF_FFFF]],
};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
