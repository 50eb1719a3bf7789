/** The runtime split is enforced by lint: core/ has no Node or DOM, renderer/ has no Node. */
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: process.cwd() });

async function ruleIds(text: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(text, { filePath });
  return result.messages.map((m) => m.ruleId ?? m.message);
}

describe('runtime boundaries', () => {
  it('refuse Node imports and DOM globals in core/', async () => {
    expect(await ruleIds("import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n", 'core/dap/example.ts')).toContain('no-restricted-imports');
    expect(await ruleIds("import { SerialPort } from 'serialport';\nexport const s = SerialPort;\n", 'core/rtt/example.ts')).toContain('no-restricted-imports');
    expect(await ruleIds('export const w = document.title;\n', 'core/arm/example.ts')).toContain('no-restricted-globals');
    expect(await ruleIds("import { x } from '../../main/cli/parse';\nexport const y = x;\n", 'core/elf/example.ts')).toContain('no-restricted-imports');
  });

  it('keep core/ layered: a layer imports only the layers below it', async () => {
    expect(await ruleIds("import { DebugSession } from '../arm/session';\nexport const s = DebugSession;\n", 'core/dap/example.ts')).toContain('no-restricted-imports');
    expect(await ruleIds("import { DefmtStream } from '../defmt';\nexport const s = DefmtStream;\n", 'core/rtt/example.ts')).toContain('no-restricted-imports');
    expect(await ruleIds("import { ChannelRouter } from '../capture/router';\nexport const r = ChannelRouter;\n", 'core/trace/example.ts')).toContain('no-restricted-imports');
    expect(await ruleIds("import { DefmtStream } from '../defmt';\nexport const s = DefmtStream;\n", 'core/capture/example.ts')).toEqual([]);
    expect(await ruleIds("import { hex32 } from '../dap/protocol';\nexport const h = hex32;\n", 'core/arm/example.ts')).toEqual([]);
    // gdb/ serves a debug session and the flasher; nothing below may know about it.
    expect(await ruleIds("import { flashImage } from '../flash/flasher';\nexport const f = flashImage;\n", 'core/gdb/example.ts')).toEqual([]);
    expect(await ruleIds("import { RttSession } from '../rtt/session';\nexport const r = RttSession;\n", 'core/gdb/example.ts')).toContain('no-restricted-imports');
    expect(await ruleIds("import { GdbServerSession } from '../gdb/server';\nexport const g = GdbServerSession;\n", 'core/flash/example.ts')).toContain('no-restricted-imports');
  });

  it('refuse Node imports in renderer/', async () => {
    expect(await ruleIds("import { spawn } from 'child_process';\nexport const s = spawn;\n", 'renderer/src/example.ts')).toContain('no-restricted-imports');
  });

  it('allow them in main/', async () => {
    expect(await ruleIds("import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n", 'main/example.ts')).toEqual([]);
  });
});
