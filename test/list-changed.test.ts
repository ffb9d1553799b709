/**
 * GET streams through any worker, and tool-set changes heard on every worker: a session's
 * server-to-client stream is opened through a worker that does not own it (forwarded to the
 * owner), and when a virtual server's tools change on another worker, every session of that
 * server (and of the unscoped endpoint) receives notifications/tools/list_changed; sessions of
 * other servers do not. Each worker has its own catalog, as separate processes would.
 */
import http from 'node:http';
import type Redis from 'ioredis';
import { MemoryStore, RedisStore, type SessionStore } from '../lib/index';
import { openSession, startGateway, testCatalog } from './helpers/gateway';
import { startRedis, type TestRedis, uniquePrefix } from './helpers/redis';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Stream {
  status: number;
  forwarded: boolean;
  events: string[];
  close(): void;
}

/** Opens the session's GET stream on `url` and collects its events. */
function openStream(url: string, sessionId: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'GET',
      agent: false,
      headers: { accept: 'text/event-stream', 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' },
    });
    req.on('response', (res) => {
      const stream: Stream = {
        status: res.statusCode ?? 0,
        forwarded: res.headers['mcp-affinity-forwarded'] === 'true',
        events: [],
        close: () => req.destroy(),
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        for (const line of chunk.split('\n')) if (line.startsWith('data:')) stream.events.push(line.slice(5).trim());
      });
      res.on('error', () => undefined);
      resolve(stream);
    });
    req.on('error', reject);
    req.end();
  });
}

const listChanged = (s: Stream): number => s.events.filter((e) => e.includes('notifications/tools/list_changed')).length;

async function scenario(makeStore: () => SessionStore): Promise<void> {
  const catalogA = testCatalog();
  const a = await startGateway({ store: makeStore(), catalog: catalogA });
  const b = await startGateway({ store: makeStore(), catalog: testCatalog() });
  const streams: Stream[] = [];
  try {
    const alpha = await openSession(`${b.url}/servers/alpha/mcp`);
    const beta = await openSession(`${b.url}/servers/beta/mcp`);
    const unscoped = await openSession(`${b.url}/mcp`);
    const alphaStream = await openStream(`${a.url}/servers/alpha/mcp`, alpha);
    streams.push(alphaStream);
    expect(alphaStream.status).toBe(200);
    expect(alphaStream.forwarded).toBe(true);
    // One GET stream per session, wherever the second one lands.
    const second = await openStream(`${a.url}/servers/alpha/mcp`, alpha);
    streams.push(second);
    expect(second.status).toBe(409);
    const betaStream = await openStream(`${a.url}/servers/beta/mcp`, beta);
    const unscopedStream = await openStream(`${b.url}/mcp`, unscoped);
    streams.push(betaStream, unscopedStream);
    await sleep(50);

    // The tool set of alpha changes on worker A; the sessions live on worker B.
    catalogA.addTool('alpha', {
      name: 'shout',
      inputSchema: { type: 'object' },
      handler: () => ({ content: [{ type: 'text', text: 'HEY' }] }),
    });
    const deadline = Date.now() + 3000;
    while ((listChanged(alphaStream) === 0 || listChanged(unscopedStream) === 0) && Date.now() < deadline) await sleep(20);
    await sleep(150);
    expect(listChanged(alphaStream)).toBe(1);
    expect(listChanged(unscopedStream)).toBe(1);
    expect(listChanged(betaStream)).toBe(0);
  } finally {
    for (const s of streams) s.close();
    await Promise.all([a.close(), b.close()]);
  }
}

test('workers sharing a MemoryStore', async () => {
  const store = new MemoryStore();
  await scenario(() => store);
});

describe('hosts sharing Redis', () => {
  let redis: TestRedis;
  const clients: Redis[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await redis.stop();
  });

  test('each with its own RedisStore and client', async () => {
    const prefix = uniquePrefix('list-changed');
    const stores: RedisStore[] = [];
    await scenario(() => {
      const client = redis.client();
      clients.push(client);
      const store = new RedisStore({ client, prefix });
      stores.push(store);
      return store;
    });
    for (const s of stores) await s.close();
  });
});
