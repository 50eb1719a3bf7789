//! What every Dapdeck flash algorithm has beside its chip's erase and program code (shared by the
//! flash-* samples through `#[path]`): Verify, BlankCheck and the CRC-32 routines the host uses to
//! skip unchanged sectors and to verify, all reading flash through the bus, and the CMSIS
//! FlashDevice structure. Like the rest of an algorithm they touch no static data, so they run
//! wherever the host loads them.

use core::ptr::{read_volatile, write_volatile};

#[inline(always)]
fn read(address: u32) -> u32 {
    unsafe { read_volatile(address as *const u32) }
}

/// Compare flash with the buffer: returns `address + size` when equal, else the first differing address.
#[no_mangle]
pub extern "C" fn Verify(address: u32, size: u32, data: *const u8) -> u32 {
    let mut offset = 0;
    while offset < size {
        let expected = unsafe { read_volatile(data.add(offset as usize)) };
        let actual = unsafe { read_volatile((address + offset) as *const u8) };
        if expected != actual {
            return address + offset;
        }
        offset += 1;
    }
    address + size
}

/// 0 when [address, address+size) holds only `pattern`'s low byte (the erased value), else 1.
/// Word at a time where aligned (about 2.5 cycles per byte on the M0 instead of 11 for bytes):
/// the host asks this of every run of sectors it may chip-erase over or skip erasing.
#[no_mangle]
pub extern "C" fn BlankCheck(address: u32, size: u32, pattern: u32) -> u32 {
    let byte = pattern & 0xff;
    let word = byte * 0x0101_0101;
    let end = address + size;
    let mut at = address;
    while at < end && at % 4 != 0 {
        if unsafe { read_volatile(at as *const u8) } as u32 != byte {
            return 1;
        }
        at += 1;
    }
    while end - at >= 4 {
        if read(at) != word {
            return 1;
        }
        at += 4;
    }
    while at < end {
        if unsafe { read_volatile(at as *const u8) } as u32 != byte {
            return 1;
        }
        at += 1;
    }
    0
}

/// CRC-32 (IEEE, reflected, as zlib) of [address, address+size): lets the host decide that a
/// sector already holds the wanted bytes without reading it back over SWD.
///
/// `table` is the standard 256-entry CRC-32 table, which the host writes into RAM beside the
/// algorithm when it loads it (building it here would cost ~20k cycles per call; a static table
/// would need relocation). A word at a time where aligned: about 8 cycles per byte on the M0,
/// against ~90 bit by bit.
#[no_mangle]
pub extern "C" fn Dapdeck_Crc32(address: u32, size: u32, table: *const u32) -> u32 {
    let t = |i: u32| unsafe { *table.add((i & 0xff) as usize) };
    let end = address + size;
    let mut at = address;
    let mut crc: u32 = 0xFFFF_FFFF;
    while at < end && at % 4 != 0 {
        crc = (crc >> 8) ^ t(crc ^ unsafe { read_volatile(at as *const u8) } as u32);
        at += 1;
    }
    while end - at >= 4 {
        crc ^= read(at);
        crc = (crc >> 8) ^ t(crc);
        crc = (crc >> 8) ^ t(crc);
        crc = (crc >> 8) ^ t(crc);
        crc = (crc >> 8) ^ t(crc);
        at += 4;
    }
    while at < end {
        crc = (crc >> 8) ^ t(crc ^ unsafe { read_volatile(at as *const u8) } as u32);
        at += 1;
    }
    !crc
}

/// CRC-32 of `count` consecutive sectors of `sector_size` bytes from `address`, one word each,
/// stored after the table (from word 256 on): the host learns which sectors of a whole run already
/// hold what they should from one call and one read instead of a call per sector.
#[no_mangle]
pub extern "C" fn Dapdeck_Crc32Sectors(address: u32, sector_size: u32, count: u32, table: *mut u32) -> u32 {
    let mut i = 0;
    while i < count {
        let crc = Dapdeck_Crc32(address + i * sector_size, sector_size, table as *const u32);
        unsafe { write_volatile(table.add(256 + i as usize), crc) };
        i += 1;
    }
    0
}

/// CMSIS FlashDevice structure (FlashOS.h): what the host reads to plan erases and writes.
#[repr(C)]
pub struct FlashDeviceDescription {
    pub version: u16,
    pub name: [u8; 128],
    pub device_type: u16,
    pub start: u32,
    pub size: u32,
    pub page_size: u32,
    pub reserved: u32,
    pub erased_value: u8,
    pub program_timeout_ms: u32,
    pub erase_timeout_ms: u32,
    pub sectors: [[u32; 2]; 2],
}

/// FlashDevice.DevName: `text` padded with zeros to 128 bytes.
pub const fn device_name(text: &[u8]) -> [u8; 128] {
    let mut name = [0u8; 128];
    let mut i = 0;
    while i < text.len() {
        name[i] = text[i];
        i += 1;
    }
    name
}

