//! SEGGER RTT, target side: the `_SEGGER_RTT` control block in RAM and non-blocking channel I/O.
//! Layout per SEGGER_RTT.h: ID[16], MaxNumUpBuffers, MaxNumDownBuffers, then the up and down
//! buffer descriptors {sName, pBuffer, SizeOfBuffer, WrOff, RdOff, Flags}.

use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{compiler_fence, Ordering};

pub const UP_CHANNELS: usize = 3;
pub const DOWN_CHANNELS: usize = 2;
/// Flags: mode 0 = NO_BLOCK_SKIP (a write that does not fit is dropped whole).
pub const MODE_NO_BLOCK_SKIP: u32 = 0;

#[repr(C)]
pub struct Buffer {
    name: *const u8,
    buffer: *mut u8,
    size: u32,
    write: u32,
    read: u32,
    flags: u32,
}

#[repr(C)]
pub struct ControlBlock {
    id: [u8; 16],
    max_up: i32,
    max_down: i32,
    up: [Buffer; UP_CHANNELS],
    down: [Buffer; DOWN_CHANNELS],
}

const EMPTY: Buffer = Buffer { name: 0 as *const u8, buffer: 0 as *mut u8, size: 0, write: 0, read: 0, flags: 0 };

/// Zero-initialised (in .bss) until `init` fills it in at start-up.
#[no_mangle]
pub static mut _SEGGER_RTT: ControlBlock = ControlBlock {
    id: [0; 16],
    max_up: 0,
    max_down: 0,
    up: [EMPTY, EMPTY, EMPTY],
    down: [EMPTY, EMPTY],
};

static mut UP0: [u8; 1024] = [0; 1024];
static mut UP1: [u8; 4096] = [0; 4096];
static mut UP2: [u8; 512] = [0; 512];
static mut DOWN0: [u8; 64] = [0; 64];
static mut DOWN1: [u8; 16] = [0; 16];

/// The default layout: up 0 "Terminal", 1 "Text", 2 "SysView"; down 0 "Terminal", 1 "SysView".
pub fn init() {
    init_named([b"Terminal\0", b"Text\0", b"SysView\0"], [b"Terminal\0", b"SysView\0"]);
}

/// Fill in the control block with these channel names (NUL-terminated). The ID string goes in
/// last, after a fence: a host scanning RAM for "SEGGER RTT" must never find a block whose
/// descriptors are still being written.
pub fn init_named(up: [&'static [u8]; UP_CHANNELS], down: [&'static [u8]; DOWN_CHANNELS]) {
    unsafe {
        let cb = &mut _SEGGER_RTT;
        cb.max_up = UP_CHANNELS as i32;
        cb.max_down = DOWN_CHANNELS as i32;
        cb.up[0] = Buffer { name: up[0].as_ptr(), buffer: UP0.as_mut_ptr(), size: 1024, write: 0, read: 0, flags: MODE_NO_BLOCK_SKIP };
        cb.up[1] = Buffer { name: up[1].as_ptr(), buffer: UP1.as_mut_ptr(), size: 4096, write: 0, read: 0, flags: MODE_NO_BLOCK_SKIP };
        cb.up[2] = Buffer { name: up[2].as_ptr(), buffer: UP2.as_mut_ptr(), size: 512, write: 0, read: 0, flags: MODE_NO_BLOCK_SKIP };
        cb.down[0] = Buffer { name: down[0].as_ptr(), buffer: DOWN0.as_mut_ptr(), size: 64, write: 0, read: 0, flags: MODE_NO_BLOCK_SKIP };
        cb.down[1] = Buffer { name: down[1].as_ptr(), buffer: DOWN1.as_mut_ptr(), size: 16, write: 0, read: 0, flags: MODE_NO_BLOCK_SKIP };
        compiler_fence(Ordering::SeqCst);
        let id = b"SEGGER RTT\0\0\0\0\0\0";
        // Written back to front so the leading "S" (what a scanner matches first) lands last.
        let mut i = id.len();
        while i > 0 {
            i -= 1;
            write_volatile(&mut cb.id[i], id[i]);
        }
        compiler_fence(Ordering::SeqCst);
    }
}

/// Write `data` to up channel `ch` whole, or not at all when it does not fit (NO_BLOCK_SKIP).
/// Returns whether it was written. The bytes go in first; WrOff is published after a fence, so the
/// host never reads bytes that are not there yet.
pub fn write(ch: usize, data: &[u8]) -> bool {
    unsafe {
        let b = &mut _SEGGER_RTT.up[ch];
        let size = b.size;
        let wr = read_volatile(&b.write);
        let rd = read_volatile(&b.read);
        let free = if rd > wr { rd - wr - 1 } else { size - wr + rd - 1 };
        if data.len() as u32 > free {
            return false;
        }
        let mut w = wr;
        for &byte in data {
            write_volatile(b.buffer.add(w as usize), byte);
            w += 1;
            if w == size {
                w = 0;
            }
        }
        compiler_fence(Ordering::SeqCst);
        write_volatile(&mut b.write, w);
        true
    }
}

/// Read what the host sent on down channel `ch` into `out`; returns the byte count.
pub fn read(ch: usize, out: &mut [u8]) -> usize {
    unsafe {
        let b = &mut _SEGGER_RTT.down[ch];
        let size = b.size;
        let wr = read_volatile(&b.write);
        let mut rd = read_volatile(&b.read);
        let mut n = 0;
        while rd != wr && n < out.len() {
            out[n] = read_volatile(b.buffer.add(rd as usize));
            n += 1;
            rd += 1;
            if rd == size {
                rd = 0;
            }
        }
        compiler_fence(Ordering::SeqCst);
        write_volatile(&mut b.read, rd);
        n
    }
}

/// Decimal digits of `n` into `buf`, returning the used tail slice (no core::fmt: keeps images small).
pub fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}
