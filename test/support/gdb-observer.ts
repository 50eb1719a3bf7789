/**
 * An independent observer for QEMU tests: Debian's gdb-multiarch attached to QEMU's own GDB stub
 * (a second QEMU running the same image), in batch mode. What it reports was worked out by GDB and
 * QEMU alone, with no Dapdeck code in between.
 */
import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Boot `elf` on `machine` halted, run gdb-multiarch with `commands` (after `target remote`), and
 * return its output. `symbols` is an ELF GDB loads for names and unwinding; `qemuArgs` go to QEMU
 * (e.g. its own semihosting, so firmware that makes semihosting calls runs on to where GDB stops it).
 */
export async function runGdb(machine: string, elf: string, commands: string[], symbols?: string, qemuArgs: string[] = []): Promise<string> {
  const port = await freePort();
  const qemu = spawn('qemu-system-arm', ['-M', machine, '-nographic', '-monitor', 'none', '-serial', 'null', ...qemuArgs, '-kernel', elf, '-S', '-gdb', `tcp:127.0.0.1:${port}`], { stdio: 'ignore' });
  try {
    const args = ['-nx', '-batch', '-ex', 'set pagination off', '-ex', 'set confirm off', ...(symbols ? ['-ex', `file ${symbols}`] : []), '-ex', `target remote 127.0.0.1:${port}`];
    for (const c of commands) args.push('-ex', c);
    args.push('-ex', 'kill');
    // The stub needs ~100 ms to listen: retry the connection a few times.
    for (let attempt = 0; ; attempt++) {
      const out = await new Promise<string>((resolve, reject) =>
        execFile('gdb-multiarch', args, { timeout: 20000 }, (err, stdout, stderr) => {
          if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') reject(new Error('gdb-multiarch not found: run scripts/install-system-deps.sh'));
          else resolve(stdout + stderr);
        }),
      );
      if (!/Connection refused/.test(out) || attempt > 20) return out;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    qemu.kill('SIGKILL');
  }
}

/** `info registers` lines → name → value. */
export function parseGdbRegisters(output: string): Map<string, number> {
  const regs = new Map<string, number>();
  for (const m of output.matchAll(/^(r\d+|sp|lr|pc|xpsr|msp|psp)\s+0x([0-9a-f]+)/gim)) regs.set(m[1], parseInt(m[2], 16) >>> 0);
  return regs;
}

/**
 * A minimal ELF32 (ARM, little-endian) holding `image` at `base` (default 0) in one loadable
 * segment: a hand-assembled test program QEMU's -kernel (or emu:pico) loads like any firmware.
 */
export function writeThumbElf(name: string, image: Uint8Array, base = 0): string {
  const dataOffset = 0x100;
  const elf = new Uint8Array(dataOffset + image.length);
  const v = new DataView(elf.buffer);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]); // \x7fELF, 32-bit, little-endian, version 1
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 40, true); // EM_ARM
  v.setUint32(20, 1, true);
  v.setUint32(28, 52, true); // e_phoff
  v.setUint32(36, 0x05000000, true); // EABI version 5
  v.setUint16(40, 52, true); // e_ehsize
  v.setUint16(42, 32, true); // e_phentsize
  v.setUint16(44, 1, true); // e_phnum
  v.setUint16(46, 40, true); // e_shentsize
  const ph = 52;
  v.setUint32(ph, 1, true); // PT_LOAD
  v.setUint32(ph + 4, dataOffset, true);
  v.setUint32(ph + 8, base, true); // vaddr
  v.setUint32(ph + 12, base, true); // paddr
  v.setUint32(ph + 16, image.length, true);
  v.setUint32(ph + 20, image.length, true);
  v.setUint32(ph + 24, 5, true); // R+X
  v.setUint32(ph + 28, 4, true);
  elf.set(image, dataOffset);
  v.setUint32(24, v.getUint32(dataOffset + 4, true), true); // entry: the reset vector
  const path = join(tmpdir(), `dapdeck-${process.pid}-${name}.elf`);
  writeFileSync(path, elf);
  return path;
}

/** Thumb halfwords and words laid out from address 0: a vector table then code. */
export function thumbImage(parts: { at: number; words?: number[]; halfwords?: number[] }[]): Uint8Array {
  const size = Math.max(...parts.map((p) => p.at + 4 * (p.words?.length ?? 0) + 2 * (p.halfwords?.length ?? 0)));
  const out = new Uint8Array((size + 3) & ~3);
  const v = new DataView(out.buffer);
  for (const p of parts) {
    p.words?.forEach((w, i) => v.setUint32(p.at + 4 * i, w >>> 0, true));
    p.halfwords?.forEach((h, i) => v.setUint16(p.at + 2 * i, h, true));
  }
  return out;
}
