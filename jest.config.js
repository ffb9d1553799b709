/**
 * Two projects, so that `npm test` runs the suite against both Express majors the package supports:
 * - express5: every test, with the `express` devDependency (5.x);
 * - express4: the in-process integration tests, with `express` mapped to the `express4` alias
 *   (npm:express@^4). The e2e tests run the built examples as separate processes, where the mapping
 *   cannot reach, so they run under express5 only.
 * `test/express-version.test.ts` proves which Express each project really loaded.
 */

// Tests run the same build as the e2e fixtures and the published package: an import of lib/ from a
// test resolves to dist/cjs (built by `pretest`), and dist's own './x.js' requires stay as they are.
// (Only the tests' own imports, which name no extension: a dependency's '../lib/x.js' is its own.)
const SOURCE_JS = { '^(?:\\.\\./){1,2}lib/([^.]*)$': '<rootDir>/dist/cjs/$1' };

/** @type {import('jest').Config} */
const common = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    // jose is ES modules only; Node runs require() of it, jest's module system (before Node 24.9)
    // does not: it is compiled to CommonJS for the tests.
    '^.+/node_modules/jose/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2022' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
};

const EXPRESS4_TESTS = [
  'express-version',
  'session-affinity',
  'session-affinity-redis',
  'regression-forwarded-scope',
  'rpc-dispatch',
  'server-scope',
  'internal-forward-guard',
  'lifecycle',
];

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      ...common,
      displayName: 'express5',
      testMatch: ['**/*.test.ts'],
      moduleNameMapper: SOURCE_JS,
      globals: { EXPRESS_MAJOR: 5 },
    },
    {
      ...common,
      displayName: 'express4',
      testMatch: EXPRESS4_TESTS.map((name) => `<rootDir>/test/${name}.test.ts`),
      moduleNameMapper: { ...SOURCE_JS, '^express$': '<rootDir>/node_modules/express4' },
      globals: { EXPRESS_MAJOR: 4 },
    },
  ],
  testTimeout: 30000,
  // Integration tests start real servers and processes; two at a time fit a 2-core machine.
  maxWorkers: 2,
};
