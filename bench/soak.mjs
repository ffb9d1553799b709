// Soak: examples/multi-worker with four workers under a steady mix of scoped and unscoped
// sessions, every request over a new connection (so most cross workers). Bounded in time.
//
//   npm run soak                      # SOAK_SECONDS=120, SOAK_CLIENTS=16
//   SOAK_SECONDS=600 npm run soak
//
// Prints sessions, requests, forwards, errors by kind, mis-scoped answers (must be 0), 5xx (must
// be 0) and each worker's resident memory at the start and the end; exits 1 when a must-be-0
// figure is not 0.
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.SOAK_SECONDS ?? 120);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 16);
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
  // Abandoned sessions (a third of them) must be reclaimed by idle expiry within the run.
  env: {
    ...process.env,
    PORT: String(port),
    WORKERS: String(WORKERS),
    MCP_AFFINITY_IDLE_MS: '10000',
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

async function client(until) {
  const endpoints = Object.keys(SCOPES);
  let n = 0;
  while (Date.now() < until) {
    const endpoint = endpoints[n++ % endpoints.length];
    const init = await send(endpoint, undefined, {
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'soak', version: '1' } },
    });
    if (init.status !== 200) continue;
    stats.sessions++;
    const sessionId = init.headers['mcp-session-id'];
    await send(endpoint, sessionId, { jsonrpc: '2.0', method: 'notifications/initialized' });
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
    // Two sessions in three end with DELETE; the rest are abandoned, as the MCP inspector does.
    if (n % 3 !== 0) {
      const del = await request(port, 'DELETE', endpoint, headers(sessionId));
      count(del);
    }
  }
}

/** Each worker's sessions and memory after a full GC, asked over new connections until all answered. */
async function memory() {
  const seen = new Map();
  for (let i = 0; seen.size < WORKERS && i < 200; i++) {
    const answer = await request(port, 'GET', '/debug/worker', {});
    if (answer.status === 200) {
      const w = JSON.parse(answer.body);
      seen.set(w.workerId, { sessions: w.sessions, rss: Math.round(w.rss / 2 ** 20), heap: Math.round(w.heapUsed / 2 ** 20) });
    }
  }
  return seen;
}
const loadStart = Date.now();
const warmUntil = Date.now() + Math.min(10_000, (SECONDS * 1000) / 6);
await Promise.all(Array.from({ length: CLIENTS }, () => client(warmUntil)));
const startMemory = await memory();
const started = Date.now();
await Promise.all(Array.from({ length: CLIENTS }, () => client(started + SECONDS * 1000)));
const loadSeconds = (Date.now() - loadStart) / 1000;
await new Promise((r) => setTimeout(r, 12_000)); // let abandoned sessions idle out
const endMemory = await memory();
primary.kill('SIGTERM');

const replaced = (output.match(/exited/g) ?? []).length;
console.log(`soak: ${SECONDS} s, ${CLIENTS} clients, ${WORKERS} workers, a new connection per request (warm-up included in the counts)`);
console.log(`sessions          ${stats.sessions}`);
console.log(`requests          ${stats.requests} (${Math.round(stats.requests / loadSeconds)} req/s)`);
console.log(`forwards          ${stats.forwards} (${((100 * stats.forwards) / stats.requests).toFixed(1)}% of requests crossed workers)`);
console.log(`errors by kind    ${JSON.stringify(Object.fromEntries(stats.errors)) || '{}'}`);
console.log(`mis-scoped        ${stats.misScoped}`);
console.log(`5xx               ${stats.serverErrors}`);
console.log(`workers replaced  ${replaced}`);
console.log('worker            sessions held, heap after GC, RSS (MiB): after warm-up → at the end (after idle expiry)');
for (const id of workers.keys()) {
  const a = startMemory.get(id) ?? {};
  const b = endMemory.get(id) ?? {};
  console.log(`  ${id}   sessions ${a.sessions} → ${b.sessions}   heap ${a.heap} → ${b.heap}   rss ${a.rss} → ${b.rss}`);
}
process.exitCode = stats.misScoped === 0 && stats.serverErrors === 0 && replaced === 0 ? 0 : 1;
