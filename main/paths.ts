/**
 * Where Dapdeck keeps its files: the per-user data directory (installed packs, the emulated boards'
 * flash). $DAPDECK_DATA_DIR overrides it as a whole, $DAPDECK_STATE_DIR the boards' part (tests give
 * every file its own, so boards one file flashes are not another file's).
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function dataDir(): string {
  const override = process.env.DAPDECK_DATA_DIR;
  if (override) return resolve(override);
  if (process.platform === 'win32') return join(process.env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'dapdeck');
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'dapdeck');
  return join(process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'dapdeck');
}

/** The emulated boards' saved flash and UICR, one file per board. */
export function boardsDir(): string {
  const override = process.env.DAPDECK_STATE_DIR;
  return override ? resolve(override) : join(dataDir(), 'boards');
}
