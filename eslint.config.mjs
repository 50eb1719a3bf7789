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
    files: ['bin/**/*.cjs'],
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
