/**
 * Build the web app (vite.web.config.mts) for tests and benches, from the current sources: first
 * the firmware it bundles (the Pico's boot ROM and samples, scripts/build-firmware.sh, cached), so
 * a fresh clone needs no separate step; a failed build throws with Vite's error line.
 */
import { execFileSync } from 'node:child_process';
import { ensureSampleFirmware, REPO_ROOT } from '../firmware';
import { PAGE_EMULATOR_SAMPLES } from './page-emulator-assets';

export function buildWebApp(options: { outDir?: string } = {}): void {
  for (const sample of ['bootrom', ...PAGE_EMULATOR_SAMPLES]) ensureSampleFirmware(sample, 'rp2040');
  try {
    execFileSync('npx', ['vite', 'build', '-c', 'vite.web.config.mts', '--logLevel', 'error', ...(options.outDir ? ['--outDir', options.outDir] : [])], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    throw new Error(`the web build failed: ${buildError(String((err as { stderr?: string }).stderr ?? '')) ?? (err as Error).message.split('\n')[0]}`);
  }
}

/** The error Vite printed after "error during build:", without colours and stack. */
function buildError(stderr: string): string | null {
  const lines = stderr.replace(/\x1b\[[0-9;]*m/g, '').split('\n').map((l) => l.trim());
  const after = lines.slice(lines.indexOf('error during build:') + 1).filter((l) => l && !/^(✗|Build failed with|\[plugin |at |Caused by)/.test(l));
  const thrown = after.find((l) => /^\w*Error: /.test(l));
  if (thrown) return thrown.replace(/^\w*Error: /, '');
  return after.length ? after.slice(0, 2).join(' ').replace(/^\[\w+\] /, '') : null;
}
