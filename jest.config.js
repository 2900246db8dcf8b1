// Four projects: `unit` needs no server; `api` starts the simulator in-process; `workflows` runs workflow code with stub
// activities on a dev server of its own; `integration` runs against the real local stack (Temporal dev server + S3
// server), which its global setup starts or reuses.
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
};
const common = {
  testEnvironment: 'node',
  transform,
  moduleFileExtensions: ['ts', 'js', 'json'],
  setupFiles: ['<rootDir>/test/setup-env.js'],
};

/** @type {import('jest').Config} */
module.exports = {
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
  projects: [
    { ...common, displayName: 'unit', roots: ['<rootDir>/test/unit'] },
    // The client against the simulator (in-process, both profiles), and a real gateway when MJ_BASE_URL is set.
    { ...common, displayName: 'api', roots: ['<rootDir>/test/api'], setupFilesAfterEnv: ['<rootDir>/test/api/setup.ts'] },
    // The workflows' logic on a local dev server (started per file) with stub activities: no stack, no simulator, no S3.
    { ...common, displayName: 'workflows', roots: ['<rootDir>/test/workflows'] },
    {
      ...common,
      displayName: 'integration',
      roots: ['<rootDir>/test/integration'],
      globalSetup: '<rootDir>/test/integration/global-setup.ts',
      globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/test/integration/setup.ts'],
    },
  ],
};
