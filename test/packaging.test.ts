/**
 * The published package, as a consumer gets it: `npm pack`, then the tarball installed into small
 * projects outside the repository that `import` it (ESM), `require` it (CommonJS) and type-check
 * against it (TypeScript, `nodenext` and `bundler` resolution); `publint` and
 * `@arethetypeswrong/cli` judge the same tarball.
 *
 * The tarball is packed from a copy of the repository in a temporary directory, so `prepack` (a
 * full build) runs as on publish without replacing this checkout's `dist/` under the feet of the
 * e2e tests that run at the same time. Fixture dependencies come from the npm cache (`--offline`),
 * falling back to `--prefer-offline` when the cache lacks something.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
const PUBLINT = path.join(ROOT, 'node_modules/publint/src/cli.js');
const ATTW = path.join(ROOT, 'node_modules/@arethetypeswrong/cli/dist/index.js');

/** The versions this repository tests with, so the fixtures resolve from the same cache entries. */
const installed = (name: string): string =>
  (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

/** Child processes use this Node, and `npm` through it. */
const ENV: NodeJS.ProcessEnv = {
  ...process.env,
  PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
  NO_COLOR: '1',
  FORCE_COLOR: '0',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
};
const NPM: [string, string[]] = process.env.npm_execpath?.endsWith('.js') ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], cwd: string, timeout = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env: ENV, timeout, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({
        code,
        stdout: String(stdout),
        stderr: `${String(stderr)}${error && code === 1 && error.killed ? '\n(killed: timeout)' : ''}`,
      });
    });
  });
}

const npm = (args: string[], cwd: string, timeout?: number) => run(NPM[0], [...NPM[1], ...args], cwd, timeout);
const node = (args: string[], cwd: string) => run(process.execPath, args, cwd);
const tsc = (project: string, cwd: string) => node([TSC, '-p', project, '--pretty', 'false'], cwd);
const show = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

function write(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
}

async function install(dir: string, specs: string[]): Promise<void> {
  const args = ['install', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error'];
  let result = await npm([...args, '--offline', ...specs], dir, 60_000);
  if (result.code !== 0) result = await npm([...args, '--prefer-offline', ...specs], dir, 120_000);
  if (result.code !== 0) throw new Error(`npm install in ${dir} failed\n${show(result)}`);
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const SECRET = 'packaging-fixture-secret-0123456789abcdef';

/** Runs the package for real: a worker, its internal listener, one initialize and one tools/list. */
const ESM_FIXTURE = `
import assert from 'node:assert/strict';
import http from 'node:http';
import express from 'express';
import * as pkg from 'express-mcp-affinity';
import { createCatalog, ErrorCodes, MCP_PATHS, McpAffinityError, MemoryStore, mcpAffinity } from 'express-mcp-affinity';

assert.match(import.meta.resolve('express-mcp-affinity'), /\\/node_modules\\/express-mcp-affinity\\/dist\\/esm\\/index\\.js$/);
assert.equal('default' in pkg, false, 'an ES module without a default export');
assert.deepEqual(MCP_PATHS, ['/mcp', '/servers/:serverId/mcp']);

const catalog = createCatalog({
  alpha: {
    tools: [{ name: 'echo', inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
              handler: ({ text }) => ({ content: [{ type: 'text', text: String(text) }] }) }],
  },
});
assert.equal(catalog.hasServer('alpha'), true);
assert.throws(() => mcpAffinity({ secret: 'short', catalog }),
  (error) => error instanceof McpAffinityError && error.code === ErrorCodes.INVALID_OPTION);

const mcp = mcpAffinity({ secret: '${SECRET}', catalog, store: new MemoryStore(), jsonResponse: true });
const app = express();
app.use(mcp);
await mcp.listen(app);
const server = http.createServer(app);
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = 'http://127.0.0.1:' + server.address().port + '/servers/alpha/mcp';
const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
try {
  const init = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fixture', version: '0' } } }) });
  assert.equal(init.status, 200, await init.clone().text());
  const session = init.headers.get('mcp-session-id');
  assert.ok(session);
  await init.json();
  const listed = await fetch(url, { method: 'POST', headers: { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
  assert.equal(listed.status, 200);
  assert.deepEqual((await listed.json()).result.tools.map((t) => t.name), ['echo']);
} finally {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await mcp.close();
}
console.log('esm ok');
`;

const CJS_FIXTURE = `
'use strict';
const assert = require('node:assert/strict');
const express = require('express');
const pkg = require('express-mcp-affinity');
const { createCatalog, mcpAffinity, MemoryStore, McpAffinityError, ErrorCodes, sessionAffinity } = pkg;

assert.match(require.resolve('express-mcp-affinity'), /\\/node_modules\\/express-mcp-affinity\\/dist\\/cjs\\/index\\.js$/);
assert.equal(require('express-mcp-affinity/package.json').name, 'express-mcp-affinity');
assert.equal(typeof sessionAffinity, 'function');

const catalog = createCatalog({ alpha: { tools: [] } });
assert.equal(catalog.hasServer('alpha'), true);
assert.throws(() => mcpAffinity({ catalog }), (e) => e instanceof McpAffinityError && e.code === ErrorCodes.INVALID_OPTION);
const mcp = mcpAffinity({ secret: '${SECRET}', catalog, store: new MemoryStore() });
const app = express();
app.use(mcp);
assert.equal(typeof mcp.listen, 'function');
mcp.close().then(() => console.log('cjs ok'));
`;

/** Uses the public types; each @ts-expect-error fails the check when a type degrades to any. */
const TS_USAGE = `
import express from 'express';
import {
  type Catalog,
  createCatalog,
  type HandlerContext,
  type McpAffinityOptions,
  type McpAffinityRouter,
  McpAffinityError,
  MemoryStore,
  mcpAffinity,
  type SessionRecord,
  type SessionStore,
  type WorkerRecord,
} from 'express-mcp-affinity';

class MapStore implements SessionStore {
  private readonly workers = new Map<string, WorkerRecord>();
  private readonly sessions = new Map<string, SessionRecord>();
  async registerWorker(worker: WorkerRecord): Promise<void> {
    this.workers.set(worker.workerId, worker);
  }
  async deregisterWorker(workerId: string): Promise<void> {
    this.workers.delete(workerId);
  }
  getWorker(workerId: string): WorkerRecord | undefined {
    return this.workers.get(workerId);
  }
  async claimSession(record: SessionRecord): Promise<boolean> {
    if (this.sessions.has(record.sessionId)) return false;
    this.sessions.set(record.sessionId, record);
    return true;
  }
  getSession(sessionId: string): SessionRecord | undefined {
    return this.sessions.get(sessionId);
  }
  async releaseSession(sessionId: string, workerId: string): Promise<void> {
    if (this.sessions.get(sessionId)?.workerId === workerId) this.sessions.delete(sessionId);
  }
}

const catalog: Catalog = createCatalog({
  alpha: {
    tools: [
      {
        name: 'echo',
        inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
        handler: (args: Record<string, unknown>, ctx: HandlerContext) => ({
          content: [{ type: 'text', text: \`\${String(args.text)} from \${ctx.workerId}\` }],
        }),
      },
    ],
  },
});

const options: McpAffinityOptions = { secret: 'x'.repeat(32), catalog, store: new MapStore(), bodyLimit: 1024 };
const router: McpAffinityRouter = mcpAffinity(options);
const app = express();
app.use(router);
export const started: Promise<WorkerRecord> = router.listen(app);
export const memory: SessionStore = new MemoryStore();
export const isError = (e: unknown): boolean => e instanceof McpAffinityError && e.code.startsWith('ERR_');

// @ts-expect-error catalog is required
export const missing: McpAffinityOptions = { secret: 'x'.repeat(32) };
// @ts-expect-error bodyLimit is a number
export const wrong: McpAffinityOptions = { secret: 'x'.repeat(32), catalog, bodyLimit: 'big' };
// @ts-expect-error the router has no such method
router.start();
`;

const TSCONFIG_BASE = {
  target: 'ES2022',
  strict: true,
  noEmit: true,
  skipLibCheck: false,
  types: ['node'],
};

// ---------------------------------------------------------------------------------------------

jest.setTimeout(120_000);

const CLEAN = show({ code: 0, stdout: '', stderr: '' });

describe('the packed package', () => {
  let work: string;
  let tarball: string;
  let files: string[];
  const fixture = (name: string) => path.join(work, name);
  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-affinity-pack-'));
    const stage = path.join(work, 'stage');
    // What `npm pack` needs: the manifest, the build's inputs and what `files` ships besides dist/.
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files?: string[] };
    const needed = new Set(['package.json', 'lib', ...(manifest.files ?? []).filter((f) => !/^\.?\/?dist\b/.test(f))]);
    for (const name of fs.readdirSync(ROOT)) {
      if (/^tsconfig.*\.json$|^(readme|licen[cs]e|changelog)\b|^\.npmignore$/i.test(name)) needed.add(name);
    }
    for (const name of needed) {
      if (fs.existsSync(path.join(ROOT, name))) fs.cpSync(path.join(ROOT, name), path.join(stage, name), { recursive: true });
    }
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(stage, 'node_modules'), 'dir');
    const packed = await npm(['pack', '--pack-destination', work], stage, 120_000);
    if (packed.code !== 0) throw new Error(`npm pack failed\n${show(packed)}`);
    const tgz = fs.readdirSync(work).filter((f) => f.endsWith('.tgz'));
    if (tgz.length !== 1) throw new Error(`expected one tarball in ${work}, found ${tgz.join(', ')}`);
    tarball = path.join(work, tgz[0] as string);
    const listed = await run('tar', ['-tzf', tarball], work);
    files = listed.stdout.split('\n').filter(Boolean);

    write(fixture('esm'), {
      'package.json': JSON.stringify({ name: 'fixture-esm', private: true, type: 'module' }),
      'index.mjs': ESM_FIXTURE,
    });
    write(fixture('cjs'), {
      'package.json': JSON.stringify({ name: 'fixture-cjs', private: true, type: 'commonjs' }),
      'index.cjs': CJS_FIXTURE,
    });
    write(fixture('ts'), {
      'package.json': JSON.stringify({ name: 'fixture-ts', private: true, type: 'module' }),
      // nodenext: an ES module (import condition) and a CommonJS one (require condition).
      'esm/usage.ts': TS_USAGE,
      'cjs/usage.cts': TS_USAGE,
      'tsconfig.json': JSON.stringify({
        compilerOptions: { ...TSCONFIG_BASE, module: 'nodenext', moduleResolution: 'nodenext' },
        files: ['esm/usage.ts', 'cjs/usage.cts'],
      }),
      'bundler/usage.ts': TS_USAGE,
      'tsconfig.bundler.json': JSON.stringify({
        // The declarations themselves are checked above (skipLibCheck false); here, resolution and usage.
        compilerOptions: { ...TSCONFIG_BASE, module: 'preserve', moduleResolution: 'bundler', skipLibCheck: true },
        files: ['bundler/usage.ts'],
      }),
    });
    // The same consumer without the optional peer ioredis.
    write(fixture('ts-bare'), {
      'package.json': JSON.stringify({ name: 'fixture-ts-bare', private: true, type: 'module' }),
      'usage.ts': TS_USAGE,
      'tsconfig.json': JSON.stringify({
        compilerOptions: { ...TSCONFIG_BASE, module: 'nodenext', moduleResolution: 'nodenext', skipLibCheck: true },
        files: ['usage.ts'],
      }),
    });

    const express = `express@${installed('express')}`;
    const typed = [tarball, express, `@types/express@${installed('@types/express')}`, `@types/node@${installed('@types/node')}`];
    await Promise.all([
      install(fixture('esm'), [tarball, express]),
      install(fixture('cjs'), [tarball, express]),
      install(fixture('ts'), [...typed, `ioredis@${installed('ioredis')}`]),
      install(fixture('ts-bare'), typed),
    ]);
  }, 300_000);

  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('holds both builds with their declarations, and no sources or tests', () => {
    for (const f of ['package.json', 'README.md', 'dist/esm/package.json']) expect(files).toContain(`package/${f}`);
    for (const entry of ['cjs/index.js', 'cjs/index.d.ts', 'esm/index.js', 'esm/index.d.ts']) {
      expect(files).toContain(`package/dist/${entry}`);
    }
    expect(files.filter((f) => /^package\/(lib|test|bench|examples)\//.test(f) || /(?<!\.d)\.ts$/.test(f))).toEqual([]);
    const esmMarker = JSON.parse(fs.readFileSync(fixture('esm/node_modules/express-mcp-affinity/dist/esm/package.json'), 'utf8'));
    expect(esmMarker).toEqual({ type: 'module' });
  });

  test('an ES module imports it and serves initialize and tools/list', async () => {
    const result = await node(['index.mjs'], fixture('esm'));
    expect(show(result)).toBe(show({ code: 0, stdout: 'esm ok\n', stderr: '' }));
  });

  test('a CommonJS module requires it', async () => {
    const result = await node(['index.cjs'], fixture('cjs'));
    expect(show(result)).toBe(show({ code: 0, stdout: 'cjs ok\n', stderr: '' }));
  });

  test('TypeScript with module nodenext type-checks against it, as ESM and as CommonJS', async () => {
    expect(show(await tsc('tsconfig.json', fixture('ts')))).toBe(CLEAN);
  });

  test('TypeScript with moduleResolution bundler type-checks against it', async () => {
    expect(show(await tsc('tsconfig.bundler.json', fixture('ts')))).toBe(CLEAN);
  });

  test('TypeScript with skipLibCheck type-checks against it without the optional peer ioredis', async () => {
    expect(show(await tsc('tsconfig.json', fixture('ts-bare')))).toBe(CLEAN);
  });

  test('its declarations import no package a consumer may lack (only dependencies, required peers, node:)', () => {
    const manifest = JSON.parse(fs.readFileSync(fixture('esm/node_modules/express-mcp-affinity/package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    };
    const guaranteed = new Set([
      ...Object.keys(manifest.dependencies ?? {}),
      ...Object.keys(manifest.peerDependencies ?? {}).filter((name) => !manifest.peerDependenciesMeta?.[name]?.optional),
    ]);
    const packageDir = fixture('esm/node_modules/express-mcp-affinity');
    const lacking = new Set<string>();
    for (const file of files.filter((f) => f.endsWith('.d.ts'))) {
      const text = fs.readFileSync(path.join(packageDir, file.replace(/^package\//, '')), 'utf8');
      for (const [, specifier = ''] of text.matchAll(/(?:from|import\(|require\()\s*['"]([^'"]+)['"]/g)) {
        if (specifier.startsWith('.') || specifier.startsWith('node:')) continue;
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] ?? '');
        if (!guaranteed.has(name)) lacking.add(`${name} in ${file.replace(/^package\//, '')}`);
      }
    }
    // The client type of RedisStore is declared structurally, so no optional peer (ioredis,
    // prom-client) is needed to type-check against this package.
    expect([...lacking].sort()).toEqual([]);
  });

  test('publint --strict reports no errors or warnings', async () => {
    const result = await node([PUBLINT, 'run', tarball, '--strict'], work);
    const output = `${result.stdout}\n${result.stderr}`;
    expect({ code: result.code, errors: /^Errors:/m.test(output), warnings: /^Warnings:/m.test(output) }).toEqual({
      code: 0,
      errors: false,
      warnings: false,
    });
  });

  test('@arethetypeswrong/cli finds no problems in any resolution mode', async () => {
    const result = await node([ATTW, tarball, '--format', 'json'], work);
    const report = JSON.parse(result.stdout) as { problems?: unknown; analysis?: { types?: unknown } };
    expect(report.problems).toEqual(Array.isArray(report.problems) ? [] : {});
    expect(report.analysis?.types).toBeTruthy();
    expect(result.code).toBe(0);
  });
});
