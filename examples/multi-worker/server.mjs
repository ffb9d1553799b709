// A node:cluster MCP gateway: WORKERS workers share PORT; each session lives on the worker that
// initialized it, and any worker forwards a request to the session's owner.
//
//   PORT=3000 WORKERS=2 MCP_AFFINITY_SECRET=... npm start
//
// With REDIS_URL set, workers share RedisStore instead of the embedded cluster store, so several
// instances (hosts) on one Redis form one gateway:
//
//   REDIS_URL=redis://127.0.0.1:6379 MCP_AFFINITY_SECRET=<shared> PORT=3000 npm start
//   REDIS_URL=redis://127.0.0.1:6379 MCP_AFFINITY_SECRET=<shared> PORT=3001 npm start
//
// On a Redis Cluster, REDIS_CLUSTER_NODES lists some of its nodes instead (host:port,host:port):
// sessions spread over its masters.
//
// Sessions outlive their worker: a killed or drained worker's sessions are adopted by another
// (MCP_AFFINITY_DRAIN_MS: the drain period on SIGTERM; MCP_AFFINITY_HIBERNATE_MS: idle sessions
// drop their SDK objects after this long and are rebuilt on their next request).
//
// Bearer tokens (OAuth 2.1 resource server): set MCP_JWKS_FILE (a JWKS JSON file), MCP_JWT_ISSUER
// and MCP_JWT_AUDIENCE; MCP_PUBLIC_URL is the gateway's URL as clients reach it (default
// http://HOST:PORT). MCP_AUTH_POLICY is JSON, token `sub` → the virtual server ids it may use
// ({"alice": ["alpha", "beta"]}); a `sub` not listed may use every server.
//
// DNS rebinding protection: MCP requests whose Host header names anything other than localhost,
// 127.0.0.1, [::1] or HOST get 403. MCP_ALLOWED_HOSTS (comma-separated hostnames) replaces that
// list; MCP_ALLOWED_HOSTS=* turns the check off (behind a proxy that checks Host itself).
//
// MCP_UPSTREAMS federates real MCP servers (upstreams.mjs, docs/upstreams.md): a JSON object of
// virtual-server id → { "url": ..., "headers": {...} } or { "command": ..., "args": [...] }; each
// is served at /servers/<id>/mcp and listed on /mcp too.
//
//   PORT=3300 npx @modelcontextprotocol/server-everything streamableHttp &
//   MCP_UPSTREAMS='{"everything":{"url":"http://127.0.0.1:3300/mcp"}}' npm start
//
// Limits, each the library's default when unset: MCP_AFFINITY_BODY_TIMEOUT_MS (bodyTimeoutMs),
// MCP_AFFINITY_MAX_REQUESTS (maxConcurrentRequests), MCP_AFFINITY_MAX_PER_SESSION
// (maxConcurrentPerSession), MCP_AFFINITY_MAX_STREAMS (maxOpenStreams).
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import express from 'express';
import { jwtVerifier, mcpAffinity, RedisStore, setupClusterPrimary, trackConnections } from 'express-mcp-affinity';
import promClient from 'prom-client';
import { createExampleCatalog, upstreamsListed } from './catalog.mjs';
import { parseUpstreams, UpstreamsConfigError } from './upstreams.mjs';

const PORT = Number(process.env.PORT ?? 3000);
const HOST = process.env.HOST ?? '127.0.0.1';
const WORKERS = Number(process.env.WORKERS ?? 2);
// A Redis Cluster's seed nodes (host:port,…), or one Redis: either makes the workers share RedisStore.
const REDIS_CLUSTER_NODES = process.env.REDIS_CLUSTER_NODES?.split(',').filter(Boolean);
const REDIS_URL = process.env.REDIS_URL;
const SHARED_REDIS = Boolean(REDIS_URL || REDIS_CLUSTER_NODES?.length);
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);
const ALLOWED_HOSTS = process.env.MCP_ALLOWED_HOSTS
  ? process.env.MCP_ALLOWED_HOSTS.split(',').map((h) => h.trim())
  : WILDCARD_HOSTS.has(HOST)
    ? ['*'] // listening everywhere: the names clients use are unknown here; set MCP_ALLOWED_HOSTS
    : [...new Set(['localhost', '127.0.0.1', '[::1]', HOST.includes(':') ? `[${HOST}]` : HOST])];
const UPSTREAMS = (() => {
  try {
    return parseUpstreams(process.env.MCP_UPSTREAMS);
  } catch (error) {
    if (!(error instanceof UpstreamsConfigError)) throw error;
    // One clear line, before any worker starts (the primary checks it; a worker never gets here).
    console.error(error.message);
    process.exit(1);
  }
})();

if (cluster.isPrimary) {
  // One secret for every worker; generated here when none is given, so forks inherit it.
  const secret = process.env.MCP_AFFINITY_SECRET ?? randomBytes(32).toString('base64url');
  if (SHARED_REDIS && !process.env.MCP_AFFINITY_SECRET) {
    console.warn(
      'MCP_AFFINITY_SECRET is not set: this host generated its own, so other hosts cannot forward to it. Set the same secret on every host.',
    );
  }
  // The embedded store's table of workers; with Redis, the workers share Redis instead.
  // A worker silent past its heartbeat (paused, hung) counts as gone: its sessions are adopted.
  if (!SHARED_REDIS) setupClusterPrimary({ onWorkerLost: (workerId) => console.log(`worker ${workerId} lost: no heartbeat`) });
  let stopping = false;
  let readyWorkers = 0;
  // The public port is one listening socket, held by this primary and accepted from by every
  // worker (SCHED_NONE). A worker that stops or dies leaves the socket open, so no connection
  // waiting in it is reset, and the other workers take it. node:cluster's round robin instead
  // hands each connection over through this process, and one handed to a worker that was just
  // killed stays open unanswered forever; a socket per worker (SO_REUSEPORT) resets the
  // connections waiting in it when its worker closes it, even in a graceful drain.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const fork = () => cluster.fork({ MCP_AFFINITY_SECRET: secret });
  for (let i = 0; i < WORKERS; i++) fork();

  // GET /metrics on any worker: the primary gathers every worker's metrics into one answer.
  const aggregator = new promClient.AggregatorRegistry();
  cluster.on('message', (worker, message) => {
    if (message?.type === 'ready') readyWorkers++;
    if (message?.type === 'ready') console.log(`worker ${message.workerId} pid ${message.pid} ready on http://${HOST}:${PORT}`);
    if (message?.type === 'metrics-request') {
      aggregator.clusterMetrics().then(
        (text) => worker.send({ type: 'metrics-response', id: message.id, text }),
        (error) => worker.send({ type: 'metrics-response', id: message.id, error: String(error) }),
      );
    }
  });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.values(cluster.workers).every((w) => w.isDead())) process.exit(process.exitCode ?? 0);
      return;
    }
    if (code === 1 && readyWorkers === 0) {
      // A worker that could not start (such as a port in use) before any became ready: the
      // whole gateway cannot serve; say so and stop, rather than restart it forever.
      console.error(`primary: worker pid ${worker.process.pid} could not start; stopping`);
      stopping = true;
      for (const other of Object.values(cluster.workers)) other.process.kill('SIGTERM');
      process.exitCode = 1;
      if (Object.values(cluster.workers).every((w) => w.isDead())) process.exit(1);
      return;
    }
    // Its sessions are already gone (they answer 404); a fresh worker takes its place.
    console.log(`worker pid ${worker.process.pid} exited (${signal ?? code}); starting a replacement`);
    fork();
  });
  // SIGTERM (or Ctrl-C): every worker drains, and the primary exits once they all have.
  const stop = () => {
    if (stopping) return;
    stopping = true;
    console.log('primary: draining workers');
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM');
    if (Object.keys(cluster.workers).length === 0) process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.log(
    `primary pid ${process.pid}: ${WORKERS} workers on ${REDIS_CLUSTER_NODES?.length ? 'RedisStore on a Redis Cluster' : SHARED_REDIS ? 'RedisStore' : 'the embedded cluster store'}, MCP endpoints http://${HOST}:${PORT}/mcp and /servers/{${['alpha', 'beta', 'conformance', ...Object.keys(UPSTREAMS)].join(',')}}/mcp`,
  );
} else {
  let redis;
  let store;
  const auth = authFromEnv();
  if (SHARED_REDIS) {
    const { Cluster, Redis } = await import('ioredis');
    redis = REDIS_CLUSTER_NODES?.length
      ? new Cluster(REDIS_CLUSTER_NODES.map((node) => ({ host: node.split(':')[0], port: Number(node.split(':')[1]) })))
      : new Redis(REDIS_URL);
    store = new RedisStore({ client: redis, prefix: process.env.MCP_AFFINITY_REDIS_PREFIX });
    await redis.ping();
  }
  const app = express();
  // This worker's catalog: its own connection to each upstream (one stdio process per worker).
  const catalog = createExampleCatalog({ upstreams: UPSTREAMS, logger: { info: () => {}, warn: console.warn, error: console.error } });
  const mcp = mcpAffinity({
    secret: process.env.MCP_AFFINITY_SECRET,
    store,
    // Each worker's internal listener: on HOST by default, advertised to peers as
    // MCP_AFFINITY_ADVERTISED_HOST (the address other hosts reach it on, such as a pod IP).
    internal: {
      host: process.env.MCP_AFFINITY_INTERNAL_HOST ?? HOST,
      advertisedHost: process.env.MCP_AFFINITY_ADVERTISED_HOST,
    },
    catalog,
    auth,
    // DNS-rebinding protection, checked on the worker that receives a request, before any forward:
    // a Host other than these names gets 403, and so does a browser Origin other than loopback.
    allowedHosts: ALLOWED_HOSTS.includes('*') ? undefined : ALLOWED_HOSTS,
    // Forwards, lookups, refusals, sessions: served aggregated at GET /metrics.
    metrics: { promClient },
    // Clients such as the MCP inspector never send DELETE: idle sessions end by themselves.
    sessionIdleTimeoutMs: Number(process.env.MCP_AFFINITY_IDLE_MS ?? 30 * 60_000),
    // Idle sessions drop their SDK objects and keep only their store record (continuity).
    hibernateAfterMs: Number(process.env.MCP_AFFINITY_HIBERNATE_MS ?? 5 * 60_000),
    // The limits (docs/api.md); each undefined, the default, when its variable is unset.
    bodyTimeoutMs: numberFromEnv('MCP_AFFINITY_BODY_TIMEOUT_MS'),
    maxConcurrentRequests: numberFromEnv('MCP_AFFINITY_MAX_REQUESTS'),
    maxConcurrentPerSession: numberFromEnv('MCP_AFFINITY_MAX_PER_SESSION'),
    maxOpenStreams: numberFromEnv('MCP_AFFINITY_MAX_STREAMS'),
    // Names the receiving and executing workers in response headers, for the demo.
    exposeWorkerHeaders: true,
    logger: { info: () => {}, warn: console.warn, error: console.error },
  });
  // Constructing it in a worker installs prom-client's listener that answers the primary.
  new promClient.AggregatorRegistry();
  let nextMetricsRequest = 0;
  const pendingMetrics = new Map();
  process.on('message', (message) => {
    if (message?.type !== 'metrics-response') return;
    pendingMetrics.get(message.id)?.(message);
    pendingMetrics.delete(message.id);
  });
  app.get('/metrics', (_req, res) => {
    const id = nextMetricsRequest++;
    pendingMetrics.set(id, ({ text, error }) => {
      if (error) res.status(500).type('text/plain').send(error);
      else res.type('text/plain; version=0.0.4').send(text);
    });
    process.send({ type: 'metrics-request', id });
  });
  if (process.env.MCP_AFFINITY_DEBUG === '1') {
    // For the soak run: this worker's sessions and memory (after a full GC when --expose-gc is on,
    // twice, as bench/memory-gateway.mjs measures: the second frees what the first's finalizers let go).
    app.get('/debug/worker', (_req, res) => {
      globalThis.gc?.();
      globalThis.gc?.();
      const { rss, heapUsed } = process.memoryUsage();
      const { workerId, sessions, replayCache } = mcp.worker;
      // replayNonces: the hops of the last two clock windows, kept against replay (heap too).
      res.json({ workerId, pid: process.pid, sessions: sessions.size, replayNonces: replayCache.size, rss, heapUsed });
    });
  }
  app.use(mcp);
  await mcp.listen(app);
  // The upstreams listed (or left out, logged) before this worker takes requests.
  await upstreamsListed(catalog);
  const server = http.createServer(app);
  // For a close that resets no request on its way in (server.close() would, on a new connection).
  const connections = trackConnections(server);
  // A port that cannot be bound is fatal, with the reason: never "ready" on a port we do not hold.
  server.once('error', async (error) => {
    console.error(`worker ${mcp.worker.workerId}: cannot listen on ${HOST}:${PORT}: ${error.message}`);
    await mcp.close();
    await catalog.close();
    await redis?.quit();
    process.exit(1);
  });
  server.listen({ port: PORT, host: HOST }, () => {
    process.send?.({ type: 'ready', workerId: mcp.worker.workerId, pid: process.pid });
  });
  // Shutdown, in this order:
  // 1. stop taking public connections (the other workers accept new ones); the ones open
  //    finish their requests, each answered with `Connection: close`;
  // 2. drain: refuse new sessions, serve this worker's sessions for the drain period, finish what
  //    is in flight, then end the sessions and close the worker (listener, sockets, timers);
  // 3. close what this process opened itself: the catalog's upstream connections (and stdio
  //    processes), once no session can call them, and the Redis client given to RedisStore;
  // 4. exit.
  process.once('SIGTERM', async () => {
    const drainMs = Number(process.env.MCP_AFFINITY_DRAIN_MS ?? 5000);
    const closed = connections.close(drainMs);
    await mcp.drain(drainMs);
    await closed;
    await catalog.close();
    await redis?.quit();
    process.exit(0);
  });
}

/** A number from the environment, or undefined (the option's default) when the variable is unset. */
function numberFromEnv(name) {
  return process.env[name] ? Number(process.env[name]) : undefined;
}

/** The `auth` option from MCP_JWKS_FILE, MCP_JWT_ISSUER, MCP_JWT_AUDIENCE (all three, or none). */
function authFromEnv() {
  const { MCP_JWKS_FILE, MCP_JWT_ISSUER, MCP_JWT_AUDIENCE, MCP_AUTH_POLICY } = process.env;
  if (!MCP_JWKS_FILE && !MCP_JWT_ISSUER && !MCP_JWT_AUDIENCE) return undefined;
  if (!MCP_JWKS_FILE || !MCP_JWT_ISSUER || !MCP_JWT_AUDIENCE) {
    throw new Error('bearer auth needs MCP_JWKS_FILE, MCP_JWT_ISSUER and MCP_JWT_AUDIENCE together');
  }
  const allowed = MCP_AUTH_POLICY ? JSON.parse(MCP_AUTH_POLICY) : {};
  return {
    verifier: jwtVerifier({ jwks: JSON.parse(readFileSync(MCP_JWKS_FILE, 'utf8')), issuer: MCP_JWT_ISSUER, audience: MCP_JWT_AUDIENCE }),
    publicUrl: process.env.MCP_PUBLIC_URL ?? `http://${HOST.includes(':') ? `[${HOST}]` : HOST}:${PORT}`,
    authorizationServers: [MCP_JWT_ISSUER],
    // A virtual server is visible (with all its items) only to the subjects listed for it.
    authorize: ({ auth, serverId, kind }) => {
      const servers = allowed[auth.extra?.sub];
      return kind !== 'server' || servers === undefined || servers.includes(serverId);
    },
  };
}
