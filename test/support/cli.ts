/** Runs the `dapdeck` command as users and scripts do, in a child process. */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

export const DAPDECK_BIN = resolve(__dirname, '../../bin/dapdeck.cjs');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function dapdeck(...args: string[]): Promise<CliResult> {
  return dapdeckEnv({}, ...args);
}

export function dapdeckEnv(env: Record<string, string>, ...args: string[]): Promise<CliResult> {
  return new Promise((done) => {
    execFile(process.execPath, [DAPDECK_BIN, ...args], { timeout: 60_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
