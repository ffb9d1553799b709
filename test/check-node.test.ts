/** `npm test`, `npm start` and `npm run bench` begin with scripts/check-node.cjs: one clear line on an old Node. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const SCRIPT = path.resolve(__dirname, '../scripts/check-node.cjs');
const run = (version?: string) =>
  spawnSync(process.execPath, [SCRIPT], { env: { ...process.env, NODE_VERSION_UNDER_TEST: version ?? '' }, encoding: 'utf8' });

test('on Node 20 it exits 1 with one line naming the version needed and how to get it', () => {
  const result = run('20.20.2');
  expect(result.status).toBe(1);
  expect(result.stdout).toBe('');
  expect(result.stderr.trim().split('\n')).toEqual([
    'express-mcp-affinity needs Node 22.12 or newer (this is v20.20.2): install it (nvm install 22, or npm i node@22) and run again.',
  ]);
});

test('on Node 22.11 (no require() of ES modules) it exits 1', () => {
  expect(run('22.11.0').status).toBe(1);
});

test('on Node 22.12 or newer it says nothing and passes', () => {
  const result = run('22.12.0');
  expect(result.status).toBe(0);
  expect(result.stderr).toBe('');
});
