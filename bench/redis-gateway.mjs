// Row 5: one gateway process on RedisStore (REDIS_URL, REDIS_PREFIX). run.mjs starts two, like
// two hosts on one Redis, each on its own public port.
// Parent messages: { type: 'stats' } → { type: 'stats', stats: store.stats() }.
import http from 'node:http';
import express from 'express';
import { mcpAffinity, RedisStore } from 'express-mcp-affinity';
import { Redis } from 'ioredis';
import { createBenchCatalog } from './catalog.mjs';

const redis = new Redis(process.env.REDIS_URL, { lazyConnect: false });
await redis.ping();
const store = new RedisStore({ client: redis, prefix: process.env.REDIS_PREFIX });
const app = express();
const mcp = mcpAffinity({
  secret: process.env.MCP_AFFINITY_SECRET,
  store,
  catalog: await createBenchCatalog(),
  jsonResponse: process.env.JSON_RESPONSE !== '0',
});
app.use(mcp);
// The faster setup (docs/benchmarks.md): hops run the router alone on the owner, and the public
// server routes MCP requests before Express.
await mcp.listen();
const server = http.createServer(mcp.front(app));
server.keepAliveTimeout = 65_000;
await new Promise((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
process.send?.({ type: 'ready', workerId: mcp.worker.workerId, port: server.address().port });

process.on('message', (message) => {
  if (message?.type === 'stats') process.send?.({ type: 'stats', stats: store.stats() });
});
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  server.closeAllConnections();
  server.close();
  await mcp.close();
  redis.disconnect();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
