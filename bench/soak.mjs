// Soak: examples/multi-worker with four workers under a steady mix of scoped and unscoped
// sessions, every request over a new connection (so most cross workers). Bounded in time.
//
//   npm run soak                      # SOAK_SECONDS=120, SOAK_CLIENTS=16
//   SOAK_SECONDS=600 npm run soak
//   SOAK_SESSIONS=160 SOAK_SECONDS=60 npm run soak   # 10× the sessions, held open
//
// Prints sessions, requests, forwards, errors by kind, mis-scoped answers (must be 0), 5xx (must
// be 0) and each worker's resident memory at the start and the end; exits 1 when a must-be-0
// figure is not 0.
//
// With SOAK_SESSIONS=N, N clients each open one session after the warm-up and keep it for the
// whole run (no DELETE, none abandoned), so the workers hold N live sessions at once (10× the
// default run's 16 at N=160). At the end it prints the heap per session: (heap after GC with the
// N sessions held − heap after GC once they are all deleted) / sessions held, per worker and
// overall, in KiB; the sessions held must be N.
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.SOAK_SECONDS ?? 120);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 16);
const HOLD = Number(process.env.SOAK_SESSIONS ?? 0);
const WORKERS = 4;
const ACCEPT = 'application/json, text/event-stream';
const SCOPES = {
  '/servers/alpha/mcp': ['add', 'echo'],
  '/servers/beta/mcp': ['reverse', 'whoami'],
  '/mcp': ['add', 'echo', 'reverse', 'whoami'],
};
const CALLS = { echo: { text: 'soak' }, add: { a: 2, b: 3 }, reverse: { text: 'soak' }, whoami: {} };

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

function request(port, method, urlPath, headers, body) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, headers, agent: false, timeout: 30_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
      res.on('error', (e) => resolve({ status: 0, headers: {}, body: String(e) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, headers: {}, body: String(e) }));
    req.end(body);
  });
}

function messages(response) {
  const type = String(response.headers['content-type'] ?? '');
  if (type.startsWith('text/event-stream')) {
    return response.body
      .split('\n\n')
      .map((e) => e.split('\n').find((l) => l.startsWith('data:')))
      .filter(Boolean)
      .map((d) => JSON.parse(d.slice(5)));
  }
  try {
    return [JSON.parse(response.body)];
  } catch {
    return [];
  }
}

const port = await freePort();
const primary = spawn(process.execPath, [path.join(ROOT, 'examples/multi-worker/server.mjs')], {
  cwd: ROOT,
  // Abandoned sessions (a third of them) must be reclaimed by idle expiry within the run; held
  // sessions (SOAK_SESSIONS) must not be, nor hibernated before they are measured.
  env: {
    ...process.env,
    PORT: String(port),
    WORKERS: String(WORKERS),
    MCP_AFFINITY_IDLE_MS: HOLD ? '3600000' : '10000',
    ...(HOLD ? { MCP_AFFINITY_HIBERNATE_MS: '3600000' } : {}),
    MCP_AFFINITY_DEBUG: '1',
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc`,
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let output = '';
primary.stdout.on('data', (c) => (output += c));
primary.stderr.on('data', (c) => (output += c));
const workers = new Map();
const deadline = Date.now() + 15_000;
while (workers.size < WORKERS) {
  for (const m of output.matchAll(/worker (\S+) pid (\d+) ready/g)) workers.set(m[1], Number(m[2]));
  if (Date.now() > deadline) throw new Error(`cluster did not start:\n${output}`);
  await new Promise((r) => setTimeout(r, 50));
}

const stats = { sessions: 0, requests: 0, forwards: 0, misScoped: 0, serverErrors: 0, errors: new Map() };
const count = (response) => {
  stats.requests++;
  if (response.headers['mcp-affinity-forwarded'] === 'true') stats.forwards++;
  if (response.status >= 500 || response.status === 0) stats.serverErrors++;
  if (response.status >= 400 || response.status === 0) {
    let code = 'no body';
    try {
      code = JSON.parse(response.body).error.data.code.replace('ERR_MCP_AFFINITY_', '');
    } catch {}
    const key = `${response.status} ${code}`;
    stats.errors.set(key, (stats.errors.get(key) ?? 0) + 1);
  }
};

const headers = (sessionId) => ({
  'content-type': 'application/json',
  accept: ACCEPT,
  'mcp-protocol-version': '2025-06-18',
  ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
});
const send = async (urlPath, sessionId, body) => {
  const response = await request(port, 'POST', urlPath, headers(sessionId), JSON.stringify(body));
  count(response);
  return response;
};

/** Opens a session on `endpoint`; its id, or undefined when initialize was refused. */
async function openOn(endpoint) {
  const init = await send(endpoint, undefined, {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'soak', version: '1' } },
  });
  if (init.status !== 200) return undefined;
  stats.sessions++;
  const sessionId = init.headers['mcp-session-id'];
  await send(endpoint, sessionId, { jsonrpc: '2.0', method: 'notifications/initialized' });
  return sessionId;
}

/** Ten rounds of tools/list and tools/call in the session (fewer if `until` comes first). */
async function rounds(endpoint, sessionId, until) {
  for (let i = 1; i <= 10 && Date.now() < until; i++) {
    const list = await send(endpoint, sessionId, { jsonrpc: '2.0', id: i, method: 'tools/list' });
    for (const m of messages(list)) for (const t of m.result?.tools ?? []) if (!SCOPES[endpoint].includes(t.name)) stats.misScoped++;
    // An in-scope call, and now and then a call of every tool, in scope or not.
    const names = i % 3 === 0 ? Object.keys(CALLS) : [SCOPES[endpoint][i % SCOPES[endpoint].length]];
    for (const name of names) {
      const call = await send(endpoint, sessionId, {
        jsonrpc: '2.0',
        id: 100 + i,
        method: 'tools/call',
        params: { name, arguments: CALLS[name] },
      });
      const ok = messages(call).some((m) => m.result && !m.result.isError);
      if (ok && !SCOPES[endpoint].includes(name)) stats.misScoped++;
    }
  }
}

const end = async (endpoint, sessionId) => count(await request(port, 'DELETE', endpoint, headers(sessionId)));

/** A session after another; two in three end with DELETE, the third (all, with `abandon` false) too. */
async function client(until, abandon = true) {
  const endpoints = Object.keys(SCOPES);
  let n = 0;
  while (Date.now() < until) {
    const endpoint = endpoints[n++ % endpoints.length];
    const sessionId = await openOn(endpoint);
    if (!sessionId) continue;
    await rounds(endpoint, sessionId, until);
    // The rest are abandoned, as the MCP inspector does.
    if (n % 3 !== 0 || !abandon) await end(endpoint, sessionId);
  }
}

/** One session for the whole run (SOAK_SESSIONS): opened, then round after round until `until`. */
async function holder(index, until) {
  const endpoint = Object.keys(SCOPES)[index % 3];
  let sessionId;
  while (!sessionId && Date.now() < until) sessionId = await openOn(endpoint);
  while (Date.now() < until) await rounds(endpoint, sessionId, until);
  return { endpoint, sessionId };
}

/** Each worker's sessions and memory after a full GC, asked over new connections until all answered. */
async function memory() {
  const seen = new Map();
  for (let i = 0; seen.size < WORKERS && i < 200; i++) {
    const answer = await request(port, 'GET', '/debug/worker', {});
    if (answer.status === 200) {
      const w = JSON.parse(answer.body);
      seen.set(w.workerId, { sessions: w.sessions, nonces: w.replayNonces, rss: w.rss, heap: w.heapUsed });
    }
  }
  return seen;
}
/**
 * The held sessions' memory once every worker's replay cache has emptied (its nonces live two
 * clock windows, 60 s, and are swept every 30 s: a sweep between two measurements would free more
 * than the sessions take), then again once they are all deleted.
 */
async function measureHeld(held) {
  let settled = await memory();
  for (const until = Date.now() + 120_000; Date.now() < until; settled = await memory()) {
    if ([...settled.values()].every((w) => w.nonces === 0)) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  const open = held.filter((h) => h.sessionId);
  for (let i = 0; i < open.length; i += 16) await Promise.all(open.slice(i, i + 16).map((h) => end(h.endpoint, h.sessionId)));
  return settled;
}

/** Per worker and overall: (heap with the sessions held − heap with none) / sessions held. */
function printHeapPerSession(withSessions, without) {
  console.log('heap per session  (heap after GC with the sessions held − after GC with none) / sessions held, KiB');
  let total = 0;
  let grown = 0;
  for (const id of workers.keys()) {
    const a = withSessions.get(id);
    const delta = a.heap - without.get(id).heap;
    total += a.sessions;
    grown += delta;
    // A worker that holds none (connections are not spread evenly) shows the noise floor.
    const per = a.sessions > 0 ? `${KiB(delta / a.sessions)} KiB` : 'no sessions: the difference is noise';
    console.log(`  ${id}   ${KiB(delta)} KiB / ${a.sessions} sessions = ${per}`);
  }
  console.log(`  overall         ${KiB(grown)} KiB / ${total} sessions = ${KiB(grown / total)} KiB`);
  console.log(`sessions held     ${total} of ${HOLD}`);
  return total;
}

const MiB = (bytes) => (bytes === undefined ? '-' : Math.round(bytes / 2 ** 20));
const KiB = (bytes) => (bytes / 1024).toFixed(1);

const loadStart = Date.now();
const warmUntil = Date.now() + Math.min(10_000, (SECONDS * 1000) / 6);
// Held-session runs warm up without abandoning any, so that none is left when the baseline is taken.
await Promise.all(Array.from({ length: CLIENTS }, () => client(warmUntil, !HOLD)));
const startMemory = await memory();
const started = Date.now();
const held = HOLD ? await Promise.all(Array.from({ length: HOLD }, (_, i) => holder(i, started + SECONDS * 1000))) : [];
if (!HOLD) await Promise.all(Array.from({ length: CLIENTS }, () => client(started + SECONDS * 1000)));
const loadSeconds = (Date.now() - loadStart) / 1000;
const heldMemory = HOLD ? await measureHeld(held) : undefined;
if (!HOLD) await new Promise((r) => setTimeout(r, 12_000)); // let abandoned sessions idle out
const endMemory = await memory();
primary.kill('SIGTERM');

const replaced = (output.match(/exited/g) ?? []).length;
const clients = HOLD ? `${HOLD} clients holding a session each (after ${CLIENTS} warming up)` : `${CLIENTS} clients`;
console.log(`soak: ${SECONDS} s, ${clients}, ${WORKERS} workers, a new connection per request (warm-up included in the counts)`);
console.log(`sessions          ${stats.sessions}`);
console.log(`requests          ${stats.requests} (${Math.round(stats.requests / loadSeconds)} req/s)`);
console.log(`forwards          ${stats.forwards} (${((100 * stats.forwards) / stats.requests).toFixed(1)}% of requests crossed workers)`);
console.log(`errors by kind    ${JSON.stringify(Object.fromEntries(stats.errors)) || '{}'}`);
console.log(`mis-scoped        ${stats.misScoped}`);
console.log(`5xx               ${stats.serverErrors}`);
console.log(`workers replaced  ${replaced}`);
const stages = HOLD ? `after warm-up → ${HOLD} held → all deleted` : 'after warm-up → at the end (after idle expiry)';
console.log(`worker            sessions held, replay nonces, heap after GC, RSS (MiB): ${stages}`);
for (const id of workers.keys()) {
  const rows = [startMemory, ...(HOLD ? [heldMemory] : []), endMemory].map((m) => m.get(id) ?? {});
  const column = (key, f = (v) => v) => rows.map((r) => f(r[key])).join(' → ');
  console.log(
    `  ${id}   sessions ${column('sessions')}   nonces ${column('nonces')}   heap ${column('heap', MiB)}   rss ${column('rss', MiB)}`,
  );
}
const heldTotal = HOLD ? printHeapPerSession(heldMemory, endMemory) : 0;
const allHeld = !HOLD || heldTotal === HOLD;
process.exitCode = stats.misScoped === 0 && stats.serverErrors === 0 && replaced === 0 && allHeld ? 0 : 1;
