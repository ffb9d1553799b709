// Rows 2, 3, 4 and 6: a node:cluster gateway on the embedded store (setupClusterPrimary), two
// workers. Unlike a production cluster (one shared public port), each worker listens on its own
// public port (exclusive: true), so the load generator can aim at the owner or at the other one.
//
// Env: JSON_RESPONSE=1|0 (mcpAffinity jsonResponse), CPU_PROF_DIR (run workers with --cpu-prof),
// UPSTREAM_URL (row 8: the virtual server is that upstream MCP server, federated with upstream();
// each worker has its own connection to it, and says ready once it has listed it).
// Parent messages: { type: 'stats' } → { type: 'stats', ipcToPrimary } (store messages counted by
// the primary since start, heartbeats aside: claims, registrations; routing must add none).
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { createCatalog, mcpAffinity, setupClusterPrimary, upstream } from 'express-mcp-affinity';
import { createBenchCatalog, SERVER_ID } from './catalog.mjs';

const WORKERS = 2;

if (cluster.isPrimary) {
  const secret = randomBytes(32).toString('base64url');
  if (process.env.CPU_PROF_DIR) {
    cluster.setupPrimary({ execArgv: [...process.execArgv, '--cpu-prof', '--cpu-prof-dir', process.env.CPU_PROF_DIR] });
  }
  setupClusterPrimary();
  let ipcToPrimary = 0;
  const ready = [];
  cluster.on('message', (worker, message) => {
    // Heartbeats keep the worker's lease (fencing); they are not lookups and do not follow requests.
    if (message?.tag === 'express-mcp-affinity' && message.type !== 'beat') ipcToPrimary++;
    else if (message?.type === 'ready') {
      ready.push({ workerId: message.workerId, port: message.port, pid: worker.process.pid });
      if (ready.length === WORKERS) process.send?.({ type: 'ready', workers: ready });
    }
  });
  for (let i = 0; i < WORKERS; i++) cluster.fork({ MCP_AFFINITY_SECRET: secret });
  process.on('message', (message) => {
    if (message?.type === 'stats') process.send?.({ type: 'stats', ipcToPrimary });
  });
  const stop = () => {
    const alive = Object.values(cluster.workers ?? {});
    if (alive.length === 0) process.exit(0);
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
    for (const worker of alive) worker.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
} else {
  const app = express();
  let catalog;
  if (process.env.UPSTREAM_URL) {
    const part = upstream({ url: process.env.UPSTREAM_URL, name: 'bench-upstream' });
    catalog = createCatalog({ [SERVER_ID]: part });
    await part.upstreams[0].ready();
  } else catalog = await createBenchCatalog();
  const mcp = mcpAffinity({
    secret: process.env.MCP_AFFINITY_SECRET,
    catalog,
    jsonResponse: process.env.JSON_RESPONSE !== '0',
    // INTERNAL_SOCKET=1: hops over a unix socket instead of TCP loopback.
    ...(process.env.INTERNAL_SOCKET === '1' ? { internal: { socketPath: join(tmpdir(), `mcp-bench-${process.pid}.sock`) } } : {}),
  });
  app.use(mcp);
  // The faster setup (docs/benchmarks.md): hops run the router alone on the owner, and the
  // public server routes MCP requests before Express.
  await mcp.listen();
  const server = http.createServer(mcp.front(app));
  server.keepAliveTimeout = 65_000;
  await new Promise((resolve) => server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, resolve));
  process.send({ type: 'ready', workerId: mcp.worker.workerId, port: server.address().port });
  let stopping = false;
  process.on('SIGTERM', async () => {
    if (stopping) return;
    stopping = true;
    server.closeAllConnections();
    server.close();
    await mcp.close();
    await catalog.close?.();
    process.exit(0); // a normal exit, so --cpu-prof writes its profile
  });
}
