// npm run bench: one run, one table. Servers are child processes on loopback; this process is
// the load generator (autocannon). Every measurement is bounded by BENCH_SECONDS (default 5),
// preceded by BENCH_WARMUP seconds (default 1) of discarded load.
//
// Rows 1-5 are interleaved in BENCH_ROUNDS rounds (default 5) of BENCH_SECONDS / BENCH_ROUNDS.
//
// Row 7 (tools/call answered as SSE: the SDK's one-process server, local, forwarded) is
// interleaved the same way, at BENCH_CALL_CONNECTIONS (default 1,16,32).
//
// Row 8 (federation: tools/call, JSON, to an upstream MCP server, the SDK's one-process server):
// 8a straight to the upstream, 8b through the session's owner, which calls the upstream, 8c
// through the other worker, forwarded to the owner, which calls it; at BENCH_CALL_CONNECTIONS.
//
// BENCH_ROWS (comma-separated row prefixes, such as 8) runs only those rows; today only 8 can be
// run alone (the others share their servers): the table is printed without the targets.
//
//   BENCH_SECONDS=5 BENCH_WARMUP=1 BENCH_ROUNDS=5 BENCH_CONNECTIONS=1,32 npm run bench
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { MCP_PATH, TOOLS } from './catalog.mjs';
import {
  ask,
  checkToolsCall,
  checkToolsList,
  commandStats,
  load,
  openSession,
  percentile,
  sseFirstEvent,
  startNode,
  startRedis,
  stopAll,
  stopChild,
  TOOLS_CALL_BODY,
} from './harness.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '1,32').split(',').map(Number);
const CALL_CONNECTIONS = (process.env.BENCH_CALL_CONNECTIONS ?? '1,16,32').split(',').map(Number);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));
const TOOL_NAMES = TOOLS.map((t) => t.name);
const ONLY = process.env.BENCH_ROWS?.split(',').map((r) => r.trim());

const log = (line) => process.stderr.write(`${line}\n`);
const loadBefore = os.loadavg()[0];

async function main() {
  const startedAt = Date.now();
  log(`bench: ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), Node ${process.version}, ${SECONDS} s per measurement`);
  if (ONLY) {
    if (!ONLY.every((r) => r.startsWith('8'))) throw new Error(`BENCH_ROWS=${ONLY}: only row 8 runs alone; unset BENCH_ROWS for all rows`);
    const rows = [];
    await upstreamRows(rows);
    process.stdout.write(`${['', ...table(rows), ''].join('\n')}\n`);
    log(`bench: done in ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
    return;
  }

  // Servers.
  const redis = await startRedis();
  const secret = randomBytes(32).toString('base64url');
  const redisEnv = { REDIS_URL: redis.url, REDIS_PREFIX: `bench-${process.pid}:`, MCP_AFFINITY_SECRET: secret, JSON_RESPONSE: '1' };
  const [bare, sdkJson, sdkSse, cluster, clusterSse, redisA, redisB] = await Promise.all([
    startNode('bare-server.mjs'),
    startNode('sdk-server.mjs', { JSON_RESPONSE: '1' }),
    startNode('sdk-server.mjs', { JSON_RESPONSE: '0' }),
    startNode('cluster-gateway.mjs', { JSON_RESPONSE: '1' }),
    startNode('cluster-gateway.mjs', { JSON_RESPONSE: '0' }),
    startNode('redis-gateway.mjs', redisEnv),
    startNode('redis-gateway.mjs', redisEnv),
  ]);
  const [ownerA, otherB] = cluster.workers;
  const raw = await startNode('raw-forward.mjs', { TARGET_PORT: String(ownerA.port) });

  // Sessions, opened on their owners before any measurement.
  const session = await openSession(ownerA.port);
  const redisSession = await openSession(redisA.port);
  const [sseA, sseB] = clusterSse.workers;
  const sseSession = await openSession(sseA.port);
  const sdkJsonSession = await openSession(sdkJson.port);
  const sdkSseSession = await openSession(sdkSse.port);
  for (const [port, sid] of [
    [bare.port, session],
    [ownerA.port, session],
    [otherB.port, session],
    [raw.port, session],
    [redisA.port, redisSession],
    [redisB.port, redisSession],
    [sdkJson.port, sdkJsonSession],
  ]) {
    await checkToolsList(port, sid, TOOL_NAMES);
  }
  await checkToolsCall(sdkJson.port, sdkJsonSession, { sse: false });
  await checkToolsCall(ownerA.port, session, { sse: false });
  for (const [port, sid] of [
    [sdkSse.port, sdkSseSession],
    [sseA.port, sseSession],
    [sseB.port, sseSession],
  ]) {
    await checkToolsCall(port, sid, { sse: true });
  }

  const rows = [];
  const lookups = {};

  // The embedded store: count the store's IPC messages reaching the primary during the runs.
  const ipcAround = (key) => ({
    before: async () => (await ask(cluster.child, 'stats')).ipcToPrimary,
    after: async (before, result) => {
      const after = (await ask(cluster.child, 'stats')).ipcToPrimary;
      const entry = (lookups[key] ??= { messages: 0, requests: 0 });
      entry.messages += after - before;
      entry.requests += result.requests;
    },
  });
  // RedisStore: the counters of both gateways, and Redis's own command counts.
  const redisAround = (key, receiver) => ({
    before: async () => ({
      a: (await ask(redisA.child, 'stats')).stats,
      b: (await ask(redisB.child, 'stats')).stats,
      cmd: await commandStats(redis.client),
    }),
    after: async (before, result) => {
      const a = (await ask(redisA.child, 'stats')).stats;
      const b = (await ask(redisB.child, 'stats')).stats;
      const cmd = await commandStats(redis.client);
      const recv = receiver === 'a' ? a : b;
      const recvBefore = receiver === 'a' ? before.a : before.b;
      const entry = (lookups[key] ??= {
        roundTrips: 0,
        ownerRoundTrips: 0,
        hits: 0,
        misses: 0,
        requests: 0,
        redisGet: 0,
        redisAll: 0,
        seconds: 0,
      });
      entry.roundTrips += recv.roundTrips - recvBefore.roundTrips;
      entry.hits += recv.workerCacheHits - recvBefore.workerCacheHits;
      entry.misses += recv.workerCacheMisses - recvBefore.workerCacheMisses;
      entry.ownerRoundTrips += a.roundTrips - before.a.roundTrips;
      entry.requests += result.requests;
      entry.redisGet += (cmd.get ?? 0) - (before.cmd.get ?? 0);
      const total = (c) => Object.entries(c).reduce((sum, [k, v]) => (k === 'info' ? sum : sum + v), 0);
      entry.redisAll += total(cmd) - total(before.cmd);
      entry.seconds += result.elapsed;
    },
  });

  const plan = [
    { row: '1', label: 'bare Express 5 + express.json()', port: bare.port, sessionId: session },
    { row: '1s', label: 'SDK one-process server (McpServer)', port: sdkJson.port, sessionId: sdkJsonSession },
    { row: '2', label: 'local: owner, embedded store', port: ownerA.port, sessionId: session, around: ipcAround('local') },
    { row: '3', label: 'forwarded: non-owner, embedded store', port: otherB.port, sessionId: session, around: ipcAround('forwarded') },
    { row: '4', label: 'raw node:http forward → row 2', port: raw.port, sessionId: session },
    { row: '5a', label: 'local on RedisStore', port: redisA.port, sessionId: redisSession, around: redisAround('redisLocal', 'a') },
    { row: '5b', label: 'forwarded on RedisStore', port: redisB.port, sessionId: redisSession, around: redisAround('redisRemote', 'b') },
  ];
  // Rows are interleaved: BENCH_ROUNDS rounds of SECONDS / ROUNDS each, so that a burst of
  // outside load on this machine lands on every row alike instead of on one.
  log(`rows 1-5: tools/list, JSON responses (jsonResponse: true), ${ROUNDS} interleaved rounds of ${(SECONDS / ROUNDS).toFixed(2)} s`);
  await measure(plan, CONNECTIONS, rows);

  const callPlan = [
    { row: '7a', label: 'SDK one-process server, tools/call SSE', port: sdkSse.port, sessionId: sdkSseSession },
    { row: '7b', label: 'local: owner, tools/call SSE', port: sseA.port, sessionId: sseSession },
    { row: '7c', label: 'forwarded: non-owner, tools/call SSE', port: sseB.port, sessionId: sseSession },
  ].map((p) => ({ ...p, body: TOOLS_CALL_BODY, base: '7a' }));
  log(`row 7: tools/call answered as SSE (jsonResponse: false), ${ROUNDS} interleaved rounds of ${(SECONDS / ROUNDS).toFixed(2)} s`);
  await measure(callPlan, CALL_CONNECTIONS, rows);
  log('row 6: streamed tools/call (SSE), time to the first event, local and forwarded alternating');
  const [sseLocal, sseForwarded] = await sseFirstEvent({
    localPort: sseA.port,
    forwardPort: sseB.port,
    sessionId: sseSession,
    seconds: SECONDS,
  });
  rows.push({ row: '6a', label: 'SSE first event, local', connections: 1, ...sseLocal, rps: Number.NaN, sse: true });
  rows.push({ row: '6b', label: 'SSE first event, forwarded', connections: 1, ...sseForwarded, rps: Number.NaN, sse: true });

  await upstreamRows(rows);

  rows.sort((x, y) => x.row.localeCompare(y.row) || x.connections - y.connections);
  print(rows, lookups);
  log(`bench: done in ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
}

/**
 * Row 8: tools/call to an upstream. The upstream is the SDK's one-process server (JSON answers);
 * the gateway's virtual server is that upstream (upstream({ url })), one connection per worker.
 */
async function upstreamRows(rows) {
  const up = await startNode('sdk-server.mjs', { JSON_RESPONSE: '1' });
  const gateway = await startNode('cluster-gateway.mjs', {
    JSON_RESPONSE: '1',
    UPSTREAM_URL: `http://127.0.0.1:${up.port}${MCP_PATH}`,
  });
  const [owner, other] = gateway.workers;
  const upSession = await openSession(up.port);
  const session = await openSession(owner.port);
  await checkToolsCall(up.port, upSession, { sse: false });
  await checkToolsCall(owner.port, session, { sse: false });
  await checkToolsCall(other.port, session, { sse: false });
  const plan = [
    { row: '8a', label: 'upstream directly (SDK), tools/call', port: up.port, sessionId: upSession },
    { row: '8b', label: 'owner → upstream, tools/call', port: owner.port, sessionId: session },
    { row: '8c', label: 'forwarded → owner → upstream, call', port: other.port, sessionId: session },
  ].map((p) => ({ ...p, body: TOOLS_CALL_BODY, base: '8a' }));
  log(`row 8: tools/call to an upstream (JSON), ${ROUNDS} interleaved rounds of ${(SECONDS / ROUNDS).toFixed(2)} s`);
  await measure(plan, CALL_CONNECTIONS, rows);
  await stopChild(gateway.child);
  await stopChild(up.child);
}

/** Runs `plan` at each connection count, rows interleaved in ROUNDS rounds; pushes one row each. */
async function measure(plan, connectionCounts, rows) {
  for (const connections of connectionCounts) {
    const acc = plan.map(() => ({ latencies: [], requests: 0, elapsed: 0, non2xx: 0, errors: 0 }));
    for (const p of plan) if (WARMUP > 0) await load({ ...p, connections, seconds: WARMUP });
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, p] of plan.entries()) {
        const before = p.around ? await p.around.before() : undefined;
        const result = await load({ ...p, connections, seconds: SECONDS / ROUNDS });
        if (p.around) await p.around.after(before, result);
        const a = acc[i];
        for (const v of result.latencies) a.latencies.push(v);
        a.requests += result.requests;
        a.elapsed += result.elapsed;
        a.non2xx += result.non2xx;
        a.errors += result.errors;
      }
    }
    for (const [i, p] of plan.entries()) {
      const a = acc[i];
      a.latencies.sort((x, y) => x - y);
      const r = {
        row: p.row,
        label: p.label,
        base: p.base ?? '1',
        connections,
        requests: a.requests,
        rps: a.requests / a.elapsed,
        p50: percentile(a.latencies, 50),
        p99: percentile(a.latencies, 99),
        non2xx: a.non2xx,
        errors: a.errors,
      };
      rows.push(r);
      log(
        `  ${r.row} ${r.label} @${connections}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms` +
          (r.non2xx || r.errors ? ` (non-2xx ${r.non2xx}, errors ${r.errors})` : ''),
      );
    }
  }
}

function find(rows, row, connections) {
  return rows.find((r) => r.row === row && r.connections === connections);
}

/** The table's lines: each row, with its ratio and p50 difference to its base row. */
function table(rows) {
  const pad = (s, n) => String(s).padEnd(n);
  const lpad = (s, n) => String(s).padStart(n);
  const ms = (v) => (Number.isFinite(v) ? v.toFixed(3) : '-');
  const out = [];
  out.push(
    `| row | path                                   | conns | ${lpad('req/s', 7)} | ${lpad('p50 ms', 7)} | ${lpad('p99 ms', 7)} | req/s ÷ base | p50 − base |`,
  );
  out.push(`|-----|----------------------------------------|------:|--------:|--------:|--------:|-------------:|-----------:|`);
  for (const r of rows) {
    const base = r.row === r.base ? undefined : find(rows, r.base ?? '1', r.connections);
    const ratio = r.sse || !base ? '-' : `${(r.rps / base.rps).toFixed(2)}× ${base.row}`;
    const dp50 = r.sse || !base ? '-' : `${((r.p50 - base.p50) * 1000).toFixed(0)} µs`;
    out.push(
      `| ${pad(r.row, 3)} | ${pad(r.label, 38)} | ${lpad(r.connections, 5)} | ${lpad(r.sse ? '-' : r.rps.toFixed(0), 7)} | ${lpad(ms(r.p50), 7)} | ${lpad(ms(r.p99), 7)} | ${lpad(ratio, 12)} | ${lpad(dp50, 10)} |`,
    );
  }
  const bad = rows.filter((r) => r.non2xx || r.errors);
  if (bad.length) out.push(`\nWARNING: non-2xx or errors in rows ${bad.map((r) => `${r.row}@${r.connections}`).join(', ')}`);
  return out;
}

function print(rows, lookups) {
  const out = [];
  out.push('');
  out.push(
    `express-mcp-affinity benchmark: ${os.cpus().length} CPUs, Node ${process.version}, ${SECONDS} s per row in ${ROUNDS} interleaved rounds, loopback; 1-min load average ${loadBefore.toFixed(2)} before, ${os.loadavg()[0].toFixed(2)} after`,
  );
  out.push('');
  out.push(...table(rows));

  // Targets.
  const hi = Math.max(...CONNECTIONS);
  const lo = Math.min(...CONNECTIONS);
  const verdicts = [];
  const check = (name, value, ok, note = '') => verdicts.push(`${ok ? 'MET   ' : 'MISSED'}  ${name}: ${value}${note ? ` (${note})` : ''}`);
  for (const c of CONNECTIONS) {
    const r = find(rows, '2', c).rps / find(rows, '1', c).rps;
    check(`local ÷ bare @${c}`, `${r.toFixed(2)}×`, r >= 0.9, 'target ≥ 0.90×');
  }
  const fwd = find(rows, '3', hi).rps / find(rows, '2', hi).rps;
  const front = find(rows, '4', hi).rps / find(rows, '2', hi).rps;
  check(
    `forwarded ÷ local @${hi}`,
    `${fwd.toFixed(2)}×`,
    fwd >= 0.5,
    `target ≥ 0.50×; a bare node:http front reaches ${front.toFixed(2)}× here`,
  );
  const added = (find(rows, '3', lo).p50 - find(rows, '2', lo).p50) * 1000;
  const addedRaw = (find(rows, '4', lo).p50 - find(rows, '2', lo).p50) * 1000;
  check(
    `added p50 per forward @${lo}`,
    `${added.toFixed(0)} µs`,
    added <= 150,
    `target ≤ 150 µs; the raw hop adds ${addedRaw.toFixed(0)} µs`,
  );
  const fwdRedis = find(rows, '5b', hi).rps / find(rows, '5a', hi).rps;
  verdicts.push(
    `        on RedisStore: local ÷ bare @${hi} ${(find(rows, '5a', hi).rps / find(rows, '1', hi).rps).toFixed(2)}×, forwarded ÷ local @${hi} ${fwdRedis.toFixed(2)}×`,
  );
  const sdkList = find(rows, '1s', hi);
  if (sdkList) {
    verdicts.push(
      `        SDK one-process server, tools/list JSON @${hi}: local ÷ SDK ${(find(rows, '2', hi).rps / sdkList.rps).toFixed(2)}×, SDK ÷ bare ${(sdkList.rps / find(rows, '1', hi).rps).toFixed(2)}×`,
    );
  }
  // tools/call answered as SSE (row 7).
  const callHigh = CALL_CONNECTIONS.filter((c) => c >= 16 && c <= 32);
  for (const c of callHigh) {
    const r = find(rows, '7b', c).rps / find(rows, '7a', c).rps;
    check(`local tools/call (SSE) ÷ SDK one-process server @${c}`, `${r.toFixed(2)}×`, r >= 1.3, 'target ≥ 1.30×');
  }
  for (const c of callHigh) {
    const r = find(rows, '7c', c).rps / find(rows, '7b', c).rps;
    check(`forwarded tools/call (SSE) ÷ local @${c}`, `${r.toFixed(2)}×`, r >= 0.8, 'target ≥ 0.80×');
  }
  if (callHigh.length === 0) verdicts.push('        tools/call (SSE) ratio targets need BENCH_CALL_CONNECTIONS between 16 and 32');
  if (find(rows, '7b', 1)) {
    const addedCall = (find(rows, '7c', 1).p50 - find(rows, '7b', 1).p50) * 1000;
    const sdkDelta = (find(rows, '7b', 1).p50 - find(rows, '7a', 1).p50) * 1000;
    check(
      'added p50 per forward, SSE tools/call @1',
      `${addedCall.toFixed(0)} µs`,
      addedCall <= 150,
      `target ≤ 150 µs; local − SDK one-process server ${sdkDelta.toFixed(0)} µs`,
    );
  } else verdicts.push('        the SSE tools/call hop target needs 1 in BENCH_CALL_CONNECTIONS');
  const sseDelta = find(rows, '6b', 1).p50 - find(rows, '6a', 1).p50;
  check('SSE first event, forwarded − local (p50)', `${(sseDelta * 1000).toFixed(0)} µs`, sseDelta <= 1, 'target ≤ 1 ms');

  // Owner lookups.
  const l = lookups;
  const perReq = (n, d) => (d ? (n / d).toFixed(4) : '-');
  const lk = [];
  lk.push('Owner lookups (store round trips per request; heartbeats and idle-expiry touches are not lookups):');
  lk.push(
    `  embedded cluster store: IPC messages to the primary during rows 2: ${l.local.messages} over ${l.local.requests} requests, rows 3: ${l.forwarded.messages} over ${l.forwarded.requests} requests`,
  );
  lk.push('    (the owner id is read from the session id; getWorker answers from the worker table the primary pushed)');
  const rl = l.redisLocal;
  const rr = l.redisRemote;
  lk.push(
    `  RedisStore, owned session (5a):  ${perReq(rl.roundTrips, rl.requests)} round trips/request (${rl.roundTrips} over ${rl.requests})`,
  );
  lk.push(
    `  RedisStore, remote session (5b): ${perReq(rr.roundTrips, rr.requests)} round trips/request (${rr.roundTrips} over ${rr.requests}); owner side of those forwards: ${rr.ownerRoundTrips}`,
  );
  lk.push(
    `    worker cache: ${rr.hits} hits, ${rr.misses} misses, hit ratio ${((100 * rr.hits) / (rr.hits + rr.misses || 1)).toFixed(3)}%; round trips per miss ${perReq(rr.roundTrips, rr.misses)}, per hit 0`,
  );
  lk.push(
    `    Redis INFO commandstats during 5b: ${rr.redisGet} GET (owner lookups), ${rr.redisAll} commands in all incl. heartbeats and touches, over ${rr.seconds.toFixed(1)} s`,
  );
  check(
    'store round trips, owned session',
    `${perReq(rl.roundTrips + l.local.messages, rl.requests + l.local.requests)}/request`,
    rl.roundTrips === 0 && l.local.messages === 0,
    'target 0',
  );
  check(
    'store round trips, remote session',
    `${perReq(rr.roundTrips, rr.misses)} per miss, 0 per hit`,
    rr.roundTrips <= rr.misses,
    'target ≤ 1 per miss, 0 per hit',
  );

  out.push('');
  out.push(...lk);
  out.push('');
  out.push('Targets:');
  out.push(...verdicts.map((v) => `  ${v}`));
  out.push('');
  process.stdout.write(`${out.join('\n')}\n`);
}

main()
  .catch((error) => {
    process.exitCode = 1;
    log(`bench failed: ${error?.stack ?? error}`);
  })
  .finally(async () => {
    await stopAll();
    process.exit(process.exitCode ?? 0);
  });
