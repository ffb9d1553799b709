/**
 * `mcp.front(app)`: sessionAffinity before Express, on the public server. Forwards skip the app;
 * everything else reaches the app unchanged, and a request is routed (and counted) once.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { MemoryStore, mcpAffinity } from '../lib/index';
import { openSession, rawRequest, rpc, SECRET, startGateway, testCatalog, toolNames } from './helpers/gateway';

test('front(app) forwards before Express, serves the rest through the app, routes each request once', async () => {
  const store = new MemoryStore();
  const owner = await startGateway({ store, catalog: testCatalog() });
  const app = express();
  let appSawMcp = 0;
  app.use('/servers', (_req, _res, next) => (appSawMcp++, next()));
  app.get('/health', (_req, res) => void res.json({ ok: true }));
  // One request at a time: a request counted twice would refuse itself.
  const mcp = mcpAffinity({ secret: SECRET, store, catalog: testCatalog(), exposeWorkerHeaders: true, maxConcurrentRequests: 1 });
  app.use(mcp);
  await mcp.listen();
  const server = http.createServer(mcp.front(app));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const remote = await openSession(`${owner.url}/servers/alpha/mcp`);
    const forwarded = await rpc(`${url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'mcp-session-id': remote });
    expect(forwarded.headers['mcp-affinity-forwarded']).toBe('true');
    expect(toolNames(forwarded)).toEqual(['add', 'echo']);
    expect(appSawMcp).toBe(0); // the forward never entered the app

    const local = await openSession(`${url}/servers/beta/mcp`);
    const served = await rpc(`${url}/servers/beta/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-session-id': local });
    expect(served.status).toBe(200);
    expect(toolNames(served)).toEqual(['reverse', 'whoami']);
    expect(appSawMcp).toBeGreaterThan(0);
    expect((await rawRequest(`${url}/health`, { method: 'GET' })).body).toBe('{"ok":true}');
    expect(mcp.worker.inFlight).toBe(0);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await mcp.close();
    await owner.close();
  }
});

test('listen() without an app serves hops for a router mounted under a prefix', async () => {
  const store = new MemoryStore();
  const start = async () => {
    const app = express();
    const mcp = mcpAffinity({ secret: SECRET, store, catalog: testCatalog(), exposeWorkerHeaders: true });
    app.use('/gateway', mcp);
    await mcp.listen();
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { mcp, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/gateway` };
  };
  const a = await start();
  const b = await start();
  try {
    const session = await openSession(`${a.url}/servers/alpha/mcp`);
    const forwarded = await rpc(
      `${b.url}/servers/alpha/mcp?x=1`,
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { 'mcp-session-id': session },
    );
    expect(forwarded.headers['mcp-affinity-forwarded']).toBe('true');
    expect(forwarded.status).toBe(200);
    expect(toolNames(forwarded)).toEqual(['add', 'echo']);
  } finally {
    for (const { server, mcp } of [a, b]) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await mcp.close();
    }
  }
});
