//! boot2 for the Raspberry Pi Pico: the second stage the RP2040 boot ROM copies from the first 256
//! bytes of flash to 0x20041f00, checks (CRC32 in the last word, appended by scripts/pad-boot2.ts)
//! and enters. It sets the SSI up for execute-in-place with the serial Read command 03h (24-bit
//! address, 32-bit frames; RP2040 datasheet 4.10, DW_apb_ssi XIP mode), which every SPI NOR flash
//! answers. Entered from the ROM (LR = 0) it then goes into the application: VTOR = 0x10000100,
//! SP from the table's first word, jump to its reset vector; called from firmware it returns.
//! Position-independent: only PC-relative literals and relative branches, as it runs from SRAM.
#![no_std]
#![no_main]

use core::arch::global_asm;

global_asm!(
    ".section .boot2, \"ax\"",
    ".thumb_func",
    ".global boot2_entry",
    "boot2_entry:",
    "push {{lr}}",
    "ldr r3, =0x18000000",     // XIP_SSI
    "movs r1, #0",
    "str r1, [r3, #0x08]",     // SSIENR = 0: the SSI is configured while disabled
    "movs r1, #4",
    "str r1, [r3, #0x14]",     // BAUDR: clk_sys / 4
    "ldr r1, =0x001f0300",     // CTRLR0: standard SPI, DFS_32 = 31 (32-bit frames), TMOD = 3 (EEPROM read)
    "str r1, [r3, #0x00]",
    "movs r1, #0",
    "str r1, [r3, #0x04]",     // CTRLR1: NDF = 0, one frame per XIP access
    "movs r1, #0xf4",
    "ldr r2, =0x03000218",     // SPI_CTRLR0: XIP_CMD 03h, INST_L 8 bits, ADDR_L 24 bits, TRANS_TYPE 0 (all serial)
    "str r2, [r3, r1]",
    "movs r1, #1",
    "str r1, [r3, #0x10]",     // SER: slave 0
    "str r1, [r3, #0x08]",     // SSIENR = 1
    "pop {{r0}}",
    "cmp r0, #0",
    "beq 1f",
    "bx r0",                   // called from firmware: return
    "1:",
    "ldr r0, =0x10000100",     // the application's vector table, after boot2
    "ldr r1, =0xe000ed08",     // VTOR
    "str r0, [r1]",
    "ldmia r0, {{r0, r1}}",    // initial SP, reset vector
    "msr msp, r0",
    "bx r1",
    ".ltorg",
);

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
