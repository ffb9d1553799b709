// A node:cluster MCP gateway: WORKERS workers share PORT; each session lives on the worker that
// initialized it, and any worker forwards a request to the session's owner.
//
//   PORT=3000 WORKERS=2 MCP_AFFINITY_SECRET=... npm start
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import express from 'express';
import { mcpAffinity, setupClusterPrimary } from 'express-mcp-affinity';
import { createExampleCatalog } from './catalog.mjs';

const PORT = Number(process.env.PORT ?? 3000);
const HOST = process.env.HOST ?? '127.0.0.1';
const WORKERS = Number(process.env.WORKERS ?? 2);

if (cluster.isPrimary) {
  // One secret for every worker; generated here when none is given, so forks inherit it.
  const secret = process.env.MCP_AFFINITY_SECRET ?? randomBytes(32).toString('base64url');
  setupClusterPrimary();
  let stopping = false;
  const fork = () => cluster.fork({ MCP_AFFINITY_SECRET: secret });
  for (let i = 0; i < WORKERS; i++) fork();

  cluster.on('message', (worker, message) => {
    if (message?.type === 'ready') console.log(`worker ${message.workerId} pid ${message.pid} ready on http://${HOST}:${PORT}`);
  });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers).length === 0) process.exit(0);
      return;
    }
    // Its sessions are already gone (they answer 404); a fresh worker takes its place.
    console.log(`worker pid ${worker.process.pid} exited (${signal ?? code}); starting a replacement`);
    fork();
  });
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM');
    if (Object.keys(cluster.workers).length === 0) process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.log(`primary pid ${process.pid}: ${WORKERS} workers, MCP endpoints http://${HOST}:${PORT}/mcp and /servers/{alpha,beta}/mcp`);
} else {
  const app = express();
  const mcp = mcpAffinity({
    secret: process.env.MCP_AFFINITY_SECRET,
    catalog: createExampleCatalog(),
    // Names the receiving and executing workers in response headers, for the demo.
    exposeWorkerHeaders: true,
    logger: { info: () => {}, warn: console.warn, error: console.error },
  });
  app.use(mcp);
  await mcp.listen(app);
  const server = app.listen(PORT, HOST, () => {
    process.send?.({ type: 'ready', workerId: mcp.worker.workerId, pid: process.pid });
  });
  process.on('SIGTERM', async () => {
    server.close();
    await mcp.close();
    process.exit(0);
  });
}
