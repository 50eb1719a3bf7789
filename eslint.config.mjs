// Lint keeps the runtime split honest: core/ runs anywhere (no Node, no DOM), renderer/ runs in a
// browser (no Node), preload/ only bridges. The rules below are the enforcement, not a suggestion.
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeModules = [
  ...builtinModules,
  ...builtinModules.map((m) => `node:${m}`),
  'electron',
  'usb',
  'serialport',
  '@serialport/*',
];
const nodeImportRule = {
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        { group: nodeModules, message: 'Node-only modules belong in main/.' },
        { group: ['**/main/**', '**/renderer/**', '**/preload/**'], message: 'core/ depends on nothing above it.' },
      ],
    },
  ],
};
// core/'s layers, each with the layers it may import (the hardware stack bottom-up; capture/ sits
// on rtt, defmt and trace; sim/ is the virtual bench, which models probe and flash algorithms; gdb/
// is the GDB remote protocol server over a debug session and the flasher).
const coreLayers = {
  dap: [],
  elf: [],
  arm: ['dap'],
  flash: ['arm', 'dap', 'elf'],
  rtt: ['dap'],
  defmt: ['elf'],
  trace: ['dap'],
  capture: ['rtt', 'defmt', 'trace', 'dap', 'elf'],
  sim: ['dap', 'flash', 'arm', 'elf'],
  gdb: ['arm', 'flash', 'dap', 'elf'],
};
const layerRules = Object.entries(coreLayers).map(([layer, below]) => {
  const above = Object.keys(coreLayers).filter((l) => l !== layer && !below.includes(l));
  return {
    files: [`core/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...nodeImportRule['no-restricted-imports'][1].patterns,
            { group: above.flatMap((l) => [`../${l}`, `../${l}/*`, `**/core/${l}/*`]), message: `core/${layer} may import only ${below.length ? below.map((l) => `core/${l}`).join(', ') : 'nothing else in core'}: layers depend on the layers below them.` },
          ],
        },
      ],
    },
  };
});
const domGlobals = ['window', 'document', 'navigator', 'localStorage', 'HTMLElement', 'process', 'Buffer', 'require', '__dirname'];

export default tseslint.config(
  { ignores: ['node_modules/**', 'out/**', 'dist/**', '.cache/**', 'firmware-samples/**/target/**', 'test-results/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['bin/**/*.cjs', 'test/fuzz/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', process: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['core/**/*.ts'],
    rules: {
      ...nodeImportRule,
      'no-restricted-globals': ['error', ...domGlobals.map((name) => ({ name, message: 'core/ is platform-free.' }))],
    },
  },
  ...layerRules,
  {
    files: ['renderer/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: nodeModules, message: 'The renderer has no Node: go through preload.' },
            { group: ['**/main/**'], message: 'The renderer cannot import main-process code.' },
          ],
        },
      ],
    },
  },
);
