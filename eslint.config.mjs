// ESLint flat config (ESLint 9 + typescript-eslint 8). `npm run lint` lints the whole tree; the ignores below keep build
// output, runtime state and generated fixtures out.
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// `import.meta.dirname` needs Node 20.11; package.json allows >= 20.9.
const rootDir = path.dirname(fileURLToPath(import.meta.url));

const escapeRegex = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// Every Node built-in, bare (`fs`, `fs/promises`, `child_process`, ...) or `node:`-prefixed. `_http_agent` and friends are
// internal aliases nobody imports on purpose; they are left out to keep the pattern readable.
const nodeBuiltins = builtinModules.filter((m) => !m.startsWith('_') && !m.startsWith('node:'));
const nodeBuiltinRegex = `^(?:node:.*|(?:${nodeBuiltins.map(escapeRegex).join('|')})(?:/.*)?)$`;

// Libraries that do I/O (or pull in the Temporal worker/client runtime). Subpath imports (`pino/file`, `@aws-sdk/lib-storage`) too.
const ioLibraries = [
  '@aws-sdk/[^/]+',
  '@smithy/[^/]+',
  'sharp',
  'undici',
  'pino',
  'csv-parse',
  'csv-stringify',
  '@temporalio/worker',
  '@temporalio/activity',
  '@temporalio/client',
  '@temporalio/testing',
  'playwright-core',
];
const ioLibraryRegex = `^(?:${ioLibraries.join('|')})(?:/.*)?$`;

// Lower layers that workflow code may only import types from (the activities, their helpers, the process-level code).
const lowerLayers = [
  'activities',
  'media',
  'storage',
  'mj-client',
  'manifest',
  'worker',
  'cli',
  'client',
  'config',
  'stack',
  'report',
  'simulator',
];
const lowerLayerRegex = `^(?:\\.\\./)+(?:${lowerLayers.join('|')})(?:/.*)?$`;

const workflowSandboxMessage =
  "Workflow code runs in Temporal's deterministic sandbox and is bundled on its own: do I/O in an activity and call it through proxyActivities.";

export default defineConfig(
  globalIgnores([
    'dist/',
    'node_modules/',
    'coverage/',
    'test-artifacts/',
    '.mj-batch/',
    '.mj-batch-*/',
    // Generated: recorded workflow histories and benchmark output.
    'test/fixtures/histories/',
    'bench/results/',
  ]),

  // Rules shared by every linted file (TypeScript and JavaScript).
  {
    files: ['**/*.{ts,js,mjs,cjs}'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    linterOptions: { reportUnusedDisableDirectives: 'warn' },
    rules: {
      'no-empty': ['error', { allowEmptyCatch: true }],
      // The manifest parser and its tests match control characters on purpose (rejecting them in prompts and CSV cells).
      'no-control-regex': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          args: 'after-used',
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      '@typescript-eslint/no-explicit-any': 'warn',
    },
  },

  // TypeScript sources and tests, with type information from tsconfig.json (through the project service).
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: rootDir,
      },
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': [
        'error',
        {
          prefer: 'type-imports',
          fixStyle: 'inline-type-imports',
          // `jest.requireActual<typeof import('node:dns')>('node:dns')` is the idiomatic way to type a module mock.
          disallowTypeAnnotations: false,
        },
      ],
    },
  },

  // Workflow code: only @temporalio/workflow, other workflow modules, shared contracts, and types from the lower layers.
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: nodeBuiltinRegex, message: `Node built-ins are not available in workflow code. ${workflowSandboxMessage}` },
            { regex: ioLibraryRegex, message: `I/O libraries are not allowed in workflow code. ${workflowSandboxMessage}` },
            {
              regex: lowerLayerRegex,
              allowTypeImports: true,
              message: `Workflow code may import only types from this layer (\`import type { ... }\`). ${workflowSandboxMessage}`,
            },
          ],
        },
      ],
      // `import { type A } from '../activities/x'` is kept as a side-effect `import '../activities/x'` under
      // verbatimModuleSyntax-style transpilers, which would drag the activity code into the workflow bundle. Fixes to `import type`.
      '@typescript-eslint/no-import-type-side-effects': 'error',
    },
  },

  // The CLI loads the worker SDK, sharp (media) and the simulator only in the commands that run them, by a typed
  // `require` at the point of use; everything else stays a static import.
  {
    files: ['cli/**/*.ts'],
    rules: {
      '@typescript-eslint/no-require-imports': [
        'error',
        { allow: ['^\\.\\./worker/', '^\\.\\./media/thumbnails$', '^\\.\\./simulator/server$'] },
      ],
    },
  },

  // Plain JavaScript: the CLI launcher, Jest config and helpers are CommonJS run by Node.
  {
    files: ['bin/**/*.js', 'test/**/*.js', 'jest.config.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
    },
  },

  // This file.
  {
    files: ['eslint.config.mjs'],
    languageOptions: { sourceType: 'module', globals: { ...globals.node } },
  },
);
