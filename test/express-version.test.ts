/**
 * Which Express the suite runs against: jest.config.js maps `express` to the `express4` alias in the
 * express4 project and leaves the Express 5 devDependency in the express5 project; each sets the
 * global EXPRESS_MAJOR it expects.
 */
import fs from 'node:fs';
import path from 'node:path';
import express from 'express';
import request from 'supertest';
import { mcpAffinity } from '../lib/index';
import { SECRET, testCatalog } from './helpers/gateway';

declare const EXPRESS_MAJOR: number;

/** The version of the package that `express` resolves to in this project. */
function loadedExpressVersion(): string {
  let dir = path.dirname(require.resolve('express'));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name: string; version: string };
  expect(manifest.name).toBe('express');
  return manifest.version;
}

test('the project runs against the Express major it names', () => {
  expect([4, 5]).toContain(EXPRESS_MAJOR);
  expect(loadedExpressVersion().split('.')[0]).toBe(String(EXPRESS_MAJOR));
});

test('the express the tests import is that major (routing behaves like it)', async () => {
  // Express 4's path-to-regexp 0.1 accepts a bare `*`; Express 5's (8.x) throws on it.
  const wildcard = () => express().get('/x/*', (_req, res) => res.end());
  if (EXPRESS_MAJOR === 4) expect(wildcard).not.toThrow();
  else expect(wildcard).toThrow();
});

test('the library under test builds its router with that express', async () => {
  const mcp = mcpAffinity({ secret: SECRET, catalog: testCatalog() });
  try {
    // Express 4's router layers match with one `regexp`; Express 5's (router 2.x) with `matchers`.
    const layer = mcp.stack[0] as unknown as Record<string, unknown>;
    expect({ regexp: layer.regexp instanceof RegExp, matchers: Array.isArray(layer.matchers) }).toEqual({
      regexp: EXPRESS_MAJOR === 4,
      matchers: EXPRESS_MAJOR === 5,
    });
    const app = express().use(mcp);
    const res = await request(app).get('/servers/nope/mcp');
    expect(res.status).toBe(404);
  } finally {
    await mcp.close();
  }
});
