// Redis sizing for RedisStore (not part of `npm run bench`): `npm run build && node bench/redis-sizing.mjs`.
// On a private redis-server it prints three tables:
//  1. keys and bytes per session, from MEMORY USAGE on the keys real gateways wrote;
//  2. Redis commands per request kind, from MONITOR around one request of each kind through two
//     gateway processes (like two hosts), and the heartbeat's per worker per interval;
//  3. what the one node carries, in sessions/s (claim + lookup + touch + release through RedisStore),
//     with the Redis CPU it took (INFO cpu), for SECONDS (default 10).
import http from 'node:http';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisStore } from 'express-mcp-affinity';
import { Redis } from 'ioredis';
import { MCP_PATH, mcpHeaders } from './catalog.mjs';
import { commandStats, killAll, openSession, post, startNode, startRedis, stopChild } from './harness.mjs';

const SECONDS = Number(process.env.SECONDS ?? 10);
const SESSIONS = Number(process.env.SESSIONS ?? 2000);
const prefix = `sizing-${process.pid}:`;
const secret = 'x'.repeat(32) + Math.random().toString(36).slice(2);

const redis = await startRedis();
const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix, MCP_AFFINITY_SECRET: secret, JSON_RESPONSE: '1' };
const [a, b] = await Promise.all([startNode('redis-gateway.mjs', env), startNode('redis-gateway.mjs', env)]);
const client = redis.client;

/** Top-level commands (round trips) and commands run inside scripts, seen by MONITOR during `run`. */
async function monitored(run) {
  const monitor = await client.monitor();
  const seen = [];
  monitor.on('monitor', (_time, args, source) => seen.push({ args, lua: source === 'lua' }));
  await run();
  await sleep(50); // fire-and-forget writes (touches) land after the response
  monitor.disconnect();
  const isHeartbeat = (args) => args[0]?.toLowerCase() === 'set' && String(args[1]).includes(':worker:') && args.length === 5;
  const top = seen.filter((c) => !c.lua && !isHeartbeat(c.args) && c.args[0]?.toLowerCase() !== 'monitor');
  const names = (list) =>
    Object.entries(list.reduce((m, c) => ((m[c.args[0].toUpperCase()] = (m[c.args[0].toUpperCase()] ?? 0) + 1), m), {}))
      .map(([n, k]) => `${n}×${k}`)
      .join(' ');
  const inner = seen.filter((c) => c.lua);
  return { roundTrips: top.length, commands: names(top), inScripts: inner.length, innerNames: names(inner) };
}

const del = (port, sessionId) =>
  new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: MCP_PATH, method: 'DELETE', headers: mcpHeaders(sessionId) },
      (res) => (res.resume(), res.on('end', () => resolve(res.statusCode))),
    );
    req.on('error', reject);
    req.end();
  });
const toolsList = (port, sessionId) => post(port, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }, mcpHeaders(sessionId));

// 1. Memory: sessions opened through gateway A (initialize + notifications/initialized).
// The marginal cost: used_memory between the first half of the sessions and all of them.
const usedMemory = async () => Number((await client.info('memory')).match(/used_memory:(\d+)/)[1]);
for (let i = 0; i < SESSIONS / 2; i++) await openSession(a.port);
const usedHalf = await usedMemory();
for (let i = 0; i < SESSIONS / 2; i++) await openSession(a.port);
const usedAll = await usedMemory();
const sessionKeys = await client.keys(`${prefix}v2:{*}:session:*`);
const setKeys = await client.keys(`${prefix}v2:{*}:sessions:*`);
const workerKeys = await client.keys(`${prefix}v2:worker:*`);
const usage = async (keys) => (await Promise.all(keys.map((k) => client.memory('USAGE', k, 'SAMPLES', 0)))).reduce((s, n) => s + n, 0);
const sessionBytes = (await usage(sessionKeys)) / sessionKeys.length;
const setBytes = await usage(setKeys);
const workerBytes = (await usage(workerKeys)) / workerKeys.length;
console.log(
  `\nRedis sizing (Redis ${(await client.info('server')).match(/redis_version:(\S+)/)[1]}, ${os.cpus().length} cores: ${os.cpus()[0]?.model})`,
);
console.log(`\n1. Memory, ${SESSIONS} sessions opened through a gateway`);
console.table({
  'session hash (MEMORY USAGE, mean)': { keys: sessionKeys.length, bytes: Math.round(sessionBytes) },
  'owner sets, all buckets (total)': { keys: setKeys.length, bytes: setBytes },
  'owner sets per session': { keys: '-', bytes: Math.round(setBytes / SESSIONS) },
  'worker record (mean)': { keys: workerKeys.length, bytes: Math.round(workerBytes) },
  'used_memory per added session (2nd half)': { keys: '-', bytes: Math.round((usedAll - usedHalf) / (SESSIONS / 2)) },
});

// 2. Commands per request kind (heartbeats filtered out, measured on their own below).
const kinds = {};
// Every script used once before (a node's first call of a script is an EVALSHA, NOSCRIPT, then EVAL).
const warm = await openSession(a.port);
await del(a.port, warm);
// The DELETE's release runs after its response: wait until it landed, or it falls in the next window.
while ((await client.keys(`${prefix}v2:{*}:session:${warm}`)).length > 0) await sleep(10);
let fresh;
kinds['initialize (new session)'] = await monitored(async () => {
  const r = await post(
    a.port,
    {
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'sizing', version: '1' } },
    },
    mcpHeaders(),
  );
  fresh = r.headers['mcp-session-id'];
});
await post(a.port, { jsonrpc: '2.0', method: 'notifications/initialized' }, mcpHeaders(fresh));
kinds['owned request (tools/list on the owner)'] = await monitored(() => toolsList(a.port, fresh));
kinds['forwarded request, owner not cached'] = await monitored(() => toolsList(b.port, fresh));
kinds['forwarded request, owner cached'] = await monitored(() => toolsList(b.port, fresh));
kinds['DELETE (on the owner)'] = await monitored(() => del(a.port, fresh));
console.log('\n2. Redis commands per request kind (round trips; commands run inside those scripts)');
console.table(kinds);

// Heartbeats: every SET of a worker key over 3 intervals (2 s each, the default), two workers.
const beats = await new Promise((resolve) => {
  client.monitor().then((monitor) => {
    let count = 0;
    monitor.on('monitor', (_t, args) => {
      if (args[0]?.toLowerCase() === 'set' && String(args[1]).includes(':worker:')) count++;
    });
    setTimeout(() => (monitor.disconnect(), resolve(count)), 6000);
  });
});
console.log(`heartbeat: ${beats} SETs from 2 workers in 3 intervals = ${(beats / 6).toFixed(2)} SET per worker per interval`);

// 3. Throughput of one node: session lifecycles through RedisStore, 8 stores × 16 in flight.
const stores = Array.from({ length: 8 }, (_, i) => {
  const c = new Redis(redis.url);
  return { c, store: new RedisStore({ client: c, prefix: `${prefix}load:`, touchIntervalMs: 1 }), worker: `load${i}` };
});
await Promise.all(stores.map(({ c }) => c.ping()));
await Promise.all(stores.map(({ store, worker }) => store.registerWorker({ workerId: worker, internalUrl: 'http://10.0.0.1:1' })));
const cpu = async () => {
  const info = await client.info('cpu');
  return Number(info.match(/used_cpu_sys:([\d.]+)/)[1]) + Number(info.match(/used_cpu_user:([\d.]+)/)[1]);
};
const cpuBefore = await cpu();
const callsBefore = await commandStats(client);
const started = performance.now();
const deadline = started + SECONDS * 1000;
let done = 0;
await Promise.all(
  stores.flatMap(({ store, worker }, i) =>
    Array.from({ length: 16 }, async (_, j) => {
      for (let n = 0; performance.now() < deadline; n++) {
        const sessionId = `${worker}.${j}-${n}`;
        await store.claimSession({
          sessionId,
          workerId: worker,
          scope: 'alpha',
          epoch: 0,
          snapshot: { init: { protocolVersion: '2025-06-18' } },
        });
        store.forgetWorker(stores[(i + 1) % stores.length].worker);
        await store.getWorker(stores[(i + 1) % stores.length].worker); // a forward's lookup, uncached
        store.touchSession(sessionId, worker, 'alpha');
        await store.releaseSession(sessionId, worker);
        done++;
      }
    }),
  ),
);
const elapsed = (performance.now() - started) / 1000;
const redisCpu = (await cpu()) - cpuBefore;
const callsAfter = await commandStats(client);
const calls = Object.entries(callsAfter).reduce((n, [k, v]) => n + (k === 'info' ? 0 : v - (callsBefore[k] ?? 0)), 0);
console.log(`\n3. One Redis node, ${SECONDS} s, 8 clients × 16 in flight, each session: claim + worker GET + touch + release`);
console.table({
  'session lifecycles/s': { value: Math.round(done / elapsed) },
  'Redis commands/s (INFO commandstats, script-internal included)': { value: Math.round(calls / elapsed) },
  'Redis CPU (core-seconds per second)': { value: Number((redisCpu / elapsed).toFixed(2)) },
  'lifecycles/s per Redis core (extrapolated)': { value: Math.round(done / redisCpu) },
});

for (const { store, c } of stores) {
  await store.close();
  c.disconnect();
}
await Promise.all([stopChild(a.child), stopChild(b.child)]);
client.disconnect();
killAll('SIGTERM');
await sleep(300);
process.exit(0);
