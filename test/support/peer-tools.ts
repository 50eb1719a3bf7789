/**
 * Running other people's debuggers against the probe model: Debian's OpenOCD through the hidapi
 * stand-in (test/peers/hidapi-standin.c, built here by gcc under the soname OpenOCD was linked
 * against) and pyOCD through its replaced HID interface (test/peers/pyocd_dapdeck.py). Used by the
 * peer tests and the peer rows of `npm run bench`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const PEERS_DIR = resolve(__dirname, '../peers');

/** Builds the hidapi stand-in into `dir`/lib; returns that directory, for LD_LIBRARY_PATH. */
export function buildHidapiStandin(dir: string): string {
  const libDir = join(dir, 'lib');
  mkdirSync(libDir, { recursive: true });
  execFileSync('gcc', ['-Wall', '-Werror', '-O2', '-shared', '-fPIC', '-Wl,-soname,libhidapi-hidraw.so.0', '-o', join(libDir, 'libhidapi-hidraw.so.0'), join(PEERS_DIR, 'hidapi-standin.c')]);
  return libDir;
}

export interface ToolResult {
  code: number;
  /** stdout and stderr together, as a user sees them. */
  out: string;
}

export function runTool(command: string, args: string[], env: Record<string, string>, cwd: string): Promise<ToolResult> {
  return new Promise((done) => {
    execFile(command, args, { timeout: 90_000, env: { ...process.env, ...env }, cwd }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

/**
 * OpenOCD 0.12 with its CMSIS-DAP (hidapi) driver and its own support for the chip (`targetCfg`:
 * its nRF51 configuration unless told, or e.g. target/rp2040.cfg), then `commands`.
 */
export function openocd(libDir: string, socketPath: string, cwd: string, commands: string[], adapterKhz?: number, targetCfg = 'target/nrf51.cfg'): Promise<ToolResult> {
  const speed = adapterKhz ? ['-c', `adapter speed ${adapterKhz}`] : [];
  const args = ['-f', 'interface/cmsis-dap.cfg', '-c', 'transport select swd', '-f', targetCfg, ...speed, ...commands.flatMap((c) => ['-c', c])];
  return runTool('openocd', args, { LD_LIBRARY_PATH: libDir, DAPDECK_HID_SOCKET: socketPath }, cwd);
}

/** pyOCD 0.13 (Debian's, run by the system Python it is installed for) through pyocd_dapdeck.py. */
export function pyocd(socketPath: string, cwd: string, args: string[], env: Record<string, string> = {}): Promise<ToolResult> {
  return runTool('/usr/bin/python3', [join(PEERS_DIR, 'pyocd_dapdeck.py'), ...args], { DAPDECK_HID_SOCKET: socketPath, ...env }, cwd);
}
