//! What a Pico firmware does before its timers mean anything (RP2040 datasheet 2.15-2.18, the
//! Pico SDK's clocks_init order): the 12 MHz crystal as clk_ref, clk_sys from PLL_SYS at 125 MHz
//! (12 MHz × 125 / 6 / 2), and the watchdog's tick generator at 1 µs from clk_ref, which the
//! TIMER counts. Leaving the boot ROM the chip runs from its ring oscillator instead.

use crate::rt::{read_reg, write_reg};

const CLR: u32 = 0x3000; // atomic clear alias
const RESETS: u32 = 0x4000_c000;
const RESET_PLL_SYS: u32 = 1 << 12;
const RESET_TIMER: u32 = 1 << 21;
const XOSC: u32 = 0x4002_4000;
const CLOCKS: u32 = 0x4000_8000;
const CLK_REF_CTRL: u32 = CLOCKS + 0x30;
const CLK_REF_SELECTED: u32 = CLOCKS + 0x38;
const CLK_SYS_CTRL: u32 = CLOCKS + 0x3c;
const CLK_SYS_SELECTED: u32 = CLOCKS + 0x44;
const PLL_SYS: u32 = 0x4002_8000;
const WATCHDOG_TICK: u32 = 0x4005_802c;

/// Take peripherals (RESETS bits) out of reset and wait until they say so.
pub fn unreset(mask: u32) {
    write_reg(RESETS + CLR, mask);
    while read_reg(RESETS + 0x08) & mask != mask {}
}

pub fn clocks_init() {
    // Crystal: 1-15 MHz range, startup delay ≈ 1 ms in units of 256 cycles, enable, wait stable.
    write_reg(XOSC + 0x0c, (12_000 + 128) / 256);
    write_reg(XOSC, (0xfab << 12) | 0xaa0);
    while read_reg(XOSC + 0x04) & (1 << 31) == 0 {}
    // clk_sys to clk_ref (glitchless) before the PLL changes; clk_ref to the crystal.
    write_reg(CLK_SYS_CTRL + CLR, 1);
    while read_reg(CLK_SYS_SELECTED) != 1 {}
    write_reg(CLK_REF_CTRL, 2);
    while read_reg(CLK_REF_SELECTED) != 1 << 2 {}
    // PLL_SYS: REFDIV 1, VCO = 12 MHz × 125 = 1500 MHz, power up, lock, post dividers 6 and 2.
    write_reg(RESETS + 0x2000, RESET_PLL_SYS); // set alias: hold it in reset, then release
    unreset(RESET_PLL_SYS);
    write_reg(PLL_SYS, 1);
    write_reg(PLL_SYS + 0x08, 125);
    write_reg(PLL_SYS + 0x04 + CLR, (1 << 0) | (1 << 5)); // PWR: PD, VCOPD off
    while read_reg(PLL_SYS) & (1 << 31) == 0 {}
    write_reg(PLL_SYS + 0x0c, (6 << 16) | (2 << 12));
    write_reg(PLL_SYS + 0x04 + CLR, 1 << 3); // POSTDIVPD off
    // clk_sys: AUXSRC 0 (pll_sys), then SRC 1 (aux).
    write_reg(CLK_SYS_CTRL, 0);
    write_reg(CLK_SYS_CTRL, 1);
    while read_reg(CLK_SYS_SELECTED) != 1 << 1 {}
    // 1 µs ticks from the 12 MHz clk_ref for the TIMER; then the TIMER itself out of reset.
    write_reg(WATCHDOG_TICK, (1 << 9) | 12);
    unreset(RESET_TIMER);
}
