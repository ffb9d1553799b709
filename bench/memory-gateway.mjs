// The memory benchmark's gateway: a node:cluster with one worker on the embedded store (session
// records live in the primary, as in production), run with --expose-gc. The parent asks through
// the primary: { type: 'heap' } → the worker's heap after a full GC and its session counts;
// { type: 'hibernate' } → every idle session hibernates now.
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import express from 'express';
import { mcpAffinity, setupClusterPrimary } from 'express-mcp-affinity';
import { createBenchCatalog } from './catalog.mjs';

if (cluster.isPrimary) {
  setupClusterPrimary();
  cluster.setupPrimary({ execArgv: [...process.execArgv, '--expose-gc'] });
  const worker = cluster.fork({ MCP_AFFINITY_SECRET: randomBytes(32).toString('base64url') });
  worker.on('message', (message) => {
    if (message?.type === 'ready') process.send?.({ type: 'ready', port: message.port });
    else if (message?.reply) process.send?.(message);
  });
  process.on('message', (message) => worker.send(message));
  process.on('SIGTERM', () => {
    worker.kill('SIGTERM');
    worker.once('exit', () => process.exit(0));
  });
} else {
  const mcp = mcpAffinity({
    secret: process.env.MCP_AFFINITY_SECRET,
    catalog: await createBenchCatalog(),
    maxSessionsPerWorker: 1_000_000,
  });
  const app = express();
  app.use(mcp);
  await mcp.listen();
  const server = http.createServer(app);
  server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }));
  process.on('message', (message) => {
    if (message?.type === 'hibernate') {
      mcp.worker.expireIdleSessions(Date.now() + 10 * 60_000 - 1);
      process.send({ reply: 'hibernate', type: 'hibernate' });
    } else if (message?.type === 'heap') {
      globalThis.gc();
      globalThis.gc();
      process.send({
        reply: 'heap',
        type: 'heap',
        heapUsed: process.memoryUsage().heapUsed,
        awake: mcp.worker.sessions.size,
        hibernated: mcp.worker.sessions.hibernatedCount,
      });
    }
  });
  process.on('SIGTERM', async () => {
    server.close();
    await mcp.close();
    process.exit(0);
  });
}
