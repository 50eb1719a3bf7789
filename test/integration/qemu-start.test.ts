/**
 * QEMU is given ports found free a moment earlier; another process can take one first. Then QEMU
 * says "Address already in use" and the board is started again on new ports, not failed (this
 * broke a CI run). A stand-in binary fails that way once, then runs the real QEMU.
 */
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { QemuTarget } from '../../main/emu/qemu-target';

it('starts a board again when QEMU finds its port taken', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dapdeck-qemu-port-'));
  const once = join(dir, 'failed-once');
  const binary = join(dir, 'qemu-port-taken');
  writeFileSync(
    binary,
    `#!/bin/sh\nif [ ! -e '${once}' ]; then touch '${once}'; echo "qemu-system-arm: -gdb tcp:127.0.0.1:1: Failed to find an available port: Address already in use" >&2; exit 1; fi\nexec qemu-system-arm "$@"\n`,
  );
  chmodSync(binary, 0o755);
  const target = await QemuTarget.start({ board: 'microbit', qemuBinary: binary });
  try {
    expect(existsSync(once)).toBe(true); // the first start did fail
    expect(target.cpuid >>> 4 & 0xfff).toBe(0xc20); // Cortex-M0: the second one runs
  } finally {
    await target.close();
  }
});
