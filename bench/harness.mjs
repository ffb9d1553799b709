// Shared pieces of the benchmark: child processes, a private redis-server, MCP session setup,
// autocannon runs with microsecond latencies, and SSE first-event timing.
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { MCP_PATH, mcpHeaders, PROTOCOL_VERSION } from './catalog.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const children = new Set();

/** Every child this process started, killed on exit whatever happens. */
export function killAll(signal = 'SIGTERM') {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill(signal);
      } catch {}
    }
  }
}

export async function stopAll(timeoutMs = 6000) {
  const waiting = [...children].filter((c) => c.exitCode === null && c.signalCode === null).map((c) => waitExit(c));
  killAll('SIGTERM');
  const timer = setTimeout(() => killAll('SIGKILL'), timeoutMs);
  await Promise.all(waiting);
  clearTimeout(timer);
}

export async function stopChild(child, timeoutMs = 6000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = waitExit(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

function waitExit(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

process.on('exit', () => killAll('SIGKILL'));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAll('SIGTERM');
    setTimeout(() => process.exit(130), 500);
  });
}

/** Forks a bench/ script with an IPC channel and waits for its `{ type: 'ready' }`. */
export function startNode(script, env = {}, { timeoutMs = 20_000, execArgv = process.execArgv } = {}) {
  const child = fork(join(here, script), [], {
    env: { ...process.env, ...env },
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => reject(new Error(`${script} exited early (${code})`)));
    child.on('message', function onReady(message) {
      if (message?.type !== 'ready') return;
      child.off('message', onReady);
      clearTimeout(timer);
      resolve({ child, ...message });
    });
  });
}

/** Sends `{ type }` to a child and waits for its reply of the same type. */
export function ask(child, type) {
  return new Promise((resolve) => {
    child.on('message', function onReply(message) {
      if (message?.type !== type) return;
      child.off('message', onReply);
      resolve(message);
    });
    child.send({ type });
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A private, non-persistent redis-server on a free loopback port. */
export async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mcp-affinity-bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: 'ignore',
  });
  children.add(child);
  child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const { Redis } = await import('ioredis');
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  for (let i = 0; ; i++) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch (error) {
      client.disconnect();
      if (i > 50) throw new Error(`redis-server did not start on port ${port}: ${error}`);
      await sleep(100);
    }
  }
  return { port, url: `redis://127.0.0.1:${port}`, client, child };
}

/** Redis INFO commandstats as { command: calls }. */
export async function commandStats(client) {
  const info = await client.info('commandstats');
  const calls = {};
  for (const line of info.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (m) calls[m[1]] = Number(m[2]);
  }
  return calls;
}

const oneShotAgent = new http.Agent({ keepAlive: false });

export function post(port, body, headers, { agent = oneShotAgent } = {}) {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body));
    const req = http.request(
      { host: '127.0.0.1', port, path: MCP_PATH, method: 'POST', agent, headers: { ...headers, 'content-length': payload.length } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** initialize + notifications/initialized on `port`; returns the session id. */
export async function openSession(port, options = {}) {
  const init = await post(
    port,
    {
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
    },
    mcpHeaders(),
    options,
  );
  const sessionId = init.headers['mcp-session-id'];
  if (init.status !== 200 || !sessionId) throw new Error(`initialize on port ${port} failed: ${init.status} ${init.body}`);
  const done = await post(port, { jsonrpc: '2.0', method: 'notifications/initialized' }, mcpHeaders(sessionId), options);
  if (done.status !== 202) throw new Error(`notifications/initialized failed: ${done.status} ${done.body}`);
  return sessionId;
}

/** One tools/list through `port`, checked, so a misrouted row fails loudly instead of measuring errors. */
export async function checkToolsList(port, sessionId, expectedNames) {
  const res = await post(port, { jsonrpc: '2.0', id: 'check', method: 'tools/list', params: {} }, mcpHeaders(sessionId));
  let names;
  try {
    names = JSON.parse(res.body).result.tools.map((t) => t.name);
  } catch {
    throw new Error(`tools/list on port ${port}: ${res.status} ${res.headers['content-type']} ${res.body.slice(0, 200)}`);
  }
  if (res.status !== 200 || names.join() !== expectedNames.join()) throw new Error(`tools/list on port ${port}: ${res.status} ${names}`);
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export const TOOLS_LIST_BODY = '{"jsonrpc":"2.0","id":"[<id>]","method":"tools/list","params":{}}';
/** A tools/call of a tool that does no waiting (`add` of bench/catalog.mjs). */
export const TOOLS_CALL_BODY = '{"jsonrpc":"2.0","id":"[<id>]","method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":3}}}';

/**
 * One tools/call through `port`, checked: 200, the expected content type (JSON or SSE), and the
 * result text "5" in the answer. An SSE answer ends once the result event is sent.
 */
export async function checkToolsCall(port, sessionId, { sse }) {
  const body = JSON.parse(TOOLS_CALL_BODY.replace('[<id>]', 'check-call'));
  const res = await post(port, body, mcpHeaders(sessionId));
  const type = String(res.headers['content-type']);
  let message;
  try {
    const json = sse
      ? res.body
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .find((l) => l.includes('"result"'))
      : res.body;
    message = JSON.parse(json);
  } catch {}
  const text = message?.result?.content?.[0]?.text;
  if (res.status !== 200 || !type.startsWith(sse ? 'text/event-stream' : 'application/json') || text !== '5') {
    throw new Error(`tools/call on port ${port}: ${res.status} ${type} ${res.body.slice(0, 200)}`);
  }
}

/**
 * autocannon against `port` for `seconds`: `body` (tools/list by default) with a fresh JSON-RPC id per
 * request; an SSE answer counts once its stream ends (after the result event).
 * Latencies come from autocannon's per-response hrtime (its own histogram rounds to whole ms).
 */
export async function load({ port, sessionId, connections, seconds, body = TOOLS_LIST_BODY }) {
  const latencies = [];
  let ok = 0;
  let other = 0;
  const started = process.hrtime.bigint();
  const instance = autocannon({
    url: `http://127.0.0.1:${port}${MCP_PATH}`,
    method: 'POST',
    headers: mcpHeaders(sessionId),
    body,
    idReplacement: true,
    connections,
    pipelining: 1,
    duration: seconds,
  });
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode >= 200 && statusCode < 300) {
      ok++;
      latencies.push(responseTime);
    } else other++;
  });
  const result = await instance;
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  return {
    connections,
    latencies,
    elapsed: Math.min(elapsed, result.duration || elapsed),
    requests: ok,
    rps: ok / Math.min(elapsed, result.duration || elapsed),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    non2xx: other,
    errors: result.errors + result.timeouts,
  };
}

/**
 * One streamed tools/call: milliseconds to the first complete SSE event (the progress
 * notification) and to the end of the response.
 */
export function sseCall(port, sessionId, agent, n) {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(
      JSON.stringify({
        jsonrpc: '2.0',
        id: n,
        method: 'tools/call',
        params: { name: 'stream', arguments: { ms: 5 }, _meta: { progressToken: n } },
      }),
    );
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: MCP_PATH,
        method: 'POST',
        agent,
        headers: { ...mcpHeaders(sessionId), 'content-length': payload.length },
      },
      (res) => {
        let buffer = '';
        let first;
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          if (first !== undefined) return;
          buffer += chunk;
          const end = buffer.indexOf('\n\n');
          if (end === -1) return;
          first = Number(process.hrtime.bigint() - t0) / 1e6;
          if (!buffer.slice(0, end).includes('notifications/progress'))
            reject(new Error(`unexpected first event: ${buffer.slice(0, end)}`));
        });
        res.on('end', () => {
          const total = Number(process.hrtime.bigint() - t0) / 1e6;
          if (res.statusCode !== 200 || !String(res.headers['content-type']).startsWith('text/event-stream')) {
            reject(new Error(`streamed tools/call: ${res.statusCode} ${res.headers['content-type']}`));
          } else resolve({ first, total });
        });
      },
    );
    req.on('error', reject);
    const t0 = process.hrtime.bigint();
    req.end(payload);
  });
}

/** Alternates local and forwarded streamed calls (1 connection each) for `seconds`. */
export async function sseFirstEvent({ localPort, forwardPort, sessionId, seconds, warmup = 50 }) {
  const agents = [localPort, forwardPort].map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  const samples = [[], []];
  const deadline = Date.now() + seconds * 1000;
  for (let n = 0; n < warmup || Date.now() < deadline; n++) {
    for (const [i, port] of [localPort, forwardPort].entries()) {
      const r = await sseCall(port, sessionId, agents[i], n);
      if (n >= warmup) samples[i].push(r.first);
    }
  }
  for (const agent of agents) agent.destroy();
  return samples.map((list) => {
    list.sort((a, b) => a - b);
    return { requests: list.length, p50: percentile(list, 50), p99: percentile(list, 99) };
  });
}

/**
 * Self time of a .cpuprofile, by function and by where the code lives. Returns
 * { totalMs, byFunction: [{ name, ms, share }], byArea: [{ area, ms, share }] }.
 */
export function summarizeProfile(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
  }
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Who asked for the work: the nearest frame, from the leaf up, that is package or bench code
  // (node internals and V8 builtins are charged to whoever called them).
  const ownerOf = (id) => {
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const a = area(byId.get(at).callFrame);
      if (!a.startsWith('(') && !a.startsWith('node:')) return a;
    }
    return area(byId.get(id).callFrame);
  };
  const fns = new Map();
  const areas = new Map();
  const owners = new Map();
  let total = 0;
  for (const [id, ms] of self) {
    const { callFrame } = byId.get(id);
    const o = ownerOf(id);
    owners.set(o, (owners.get(o) ?? 0) + ms);
    const url = callFrame.url ?? '';
    const name = `${callFrame.functionName || '(anonymous)'} ${shortUrl(url)}${url ? `:${callFrame.lineNumber + 1}` : ''}`;
    fns.set(name, (fns.get(name) ?? 0) + ms);
    const a = area(callFrame);
    areas.set(a, (areas.get(a) ?? 0) + ms);
    total += ms;
  }
  const busy = total - (areas.get('(idle)') ?? 0);
  const rank = (map, key) =>
    [...map]
      .filter(([k]) => k !== '(idle)')
      .sort((x, y) => y[1] - x[1])
      .map(([k, ms]) => ({ [key]: k, ms, share: ms / busy }));
  return { totalMs: total, busyMs: busy, byFunction: rank(fns, 'name'), byArea: rank(areas, 'area'), byOwner: rank(owners, 'area') };
}

function shortUrl(url) {
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist !== -1) return url.slice(dist + 1);
  return url.replace(/^file:\/\/.*\/bench\//, 'bench/');
}

function area({ functionName, url = '' }) {
  if (!url) {
    if (functionName === '(idle)' || functionName === '(program)' || functionName === '(garbage collector)') return functionName;
    return '(native / V8 builtins)';
  }
  if (url.startsWith('node:')) {
    if (/node:internal\/(deps\/undici|webstreams)/.test(url)) return 'node: web Request/Response/Headers, web streams';
    if (/node:(_http|http|net|stream|internal\/streams|internal\/http|_stream)/.test(url)) return 'node: http, net, streams';
    if (/node:internal\/crypto/.test(url)) return 'node: crypto';
    if (/node:(events|internal\/process\/task_queues|internal\/timers|timers)/.test(url)) return 'node: events, timers, microtasks';
    return 'node: other internals';
  }
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)(\/.*)?$/.exec(url);
  if (m) {
    if (m[1] === '@modelcontextprotocol/sdk') {
      if (/\/types\.js$|zod/.test(m[2] ?? '')) return 'MCP SDK: zod schemas';
      return 'MCP SDK: transport + protocol';
    }
    if (m[1] === 'zod') return 'MCP SDK: zod schemas';
    return m[1];
  }
  if (url.includes('/dist/')) return 'express-mcp-affinity (lib)';
  return 'bench scripts';
}
