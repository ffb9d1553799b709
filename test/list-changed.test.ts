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
import { openSession, rpc, startGateway, testCatalog } from './helpers/gateway';
import { startRedis, type TestRedis, uniquePrefix } from './helpers/redis';
import { waitFor } from './helpers/wait';

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
/** The tool-list notifications a stream received before the marker (a resource update), or undefined before the marker. */
const listChangedBeforeMarker = (s: Stream, uri: string): number | undefined => {
  const marker = s.events.findIndex((e) => e.includes('notifications/resources/updated') && e.includes(uri));
  return marker < 0 ? undefined : s.events.slice(0, marker).filter((e) => e.includes('notifications/tools/list_changed')).length;
};

/**
 * `subscribed` resolves once every worker listens for the store's events (a Redis SUBSCRIBE is
 * acknowledged asynchronously, and nothing announces it).
 */
async function scenario(makeStore: () => SessionStore, subscribed: () => Promise<void> = async () => undefined): Promise<void> {
  const catalogA = testCatalog();
  const catalogB = testCatalog();
  const a = await startGateway({ store: makeStore(), catalog: catalogA });
  const b = await startGateway({ store: makeStore(), catalog: catalogB });
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
    // Subscriptions on the owner (B) for the marker below: a resource update B sends each session.
    const subscribe = (server: string, session: string, uri: string) =>
      rpc(`${b.url}${server}`, { jsonrpc: '2.0', id: 9, method: 'resources/subscribe', params: { uri } }, { 'mcp-session-id': session });
    for (const [server, session, uri] of [
      ['/servers/alpha/mcp', alpha, 'memo://alpha/readme'],
      ['/servers/beta/mcp', beta, 'memo://beta/secret'],
      ['/mcp', unscoped, 'memo://alpha/readme'],
    ] as const)
      expect((await subscribe(server, session, uri)).status).toBe(200);
    await subscribed();

    // The tool set of alpha changes on worker A; the sessions live on worker B.
    catalogA.addTool('alpha', {
      name: 'shout',
      inputSchema: { type: 'object' },
      handler: () => ({ content: [{ type: 'text', text: 'HEY' }] }),
    });
    await waitFor(() => listChanged(alphaStream) > 0 && listChanged(unscopedStream) > 0, { what: 'notifications/tools/list_changed' });
    // A marker after the change: B sends each session a resource update on the same stream, so a
    // wrong or duplicate list_changed B sent for the change arrives before it.
    catalogB.resourceUpdated('alpha', 'memo://alpha/readme');
    catalogB.resourceUpdated('beta', 'memo://beta/secret');
    const before = await waitFor(
      () => {
        const counts = [
          listChangedBeforeMarker(alphaStream, 'memo://alpha/readme'),
          listChangedBeforeMarker(unscopedStream, 'memo://alpha/readme'),
          listChangedBeforeMarker(betaStream, 'memo://beta/secret'),
        ];
        return counts.every((c) => c !== undefined) ? counts : undefined;
      },
      { what: 'the resource-update marker on every stream' },
    );
    expect(before).toEqual([1, 1, 0]);
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
    const probe = redis.client();
    clients.push(probe);
    // Both workers' subscribing connections are on the events channel (the only channel under this prefix).
    const subscribed = async () => {
      await waitFor(
        async () => {
          const channels = (await probe.pubsub('CHANNELS', `${prefix}*`)) as string[];
          if (channels.length === 0) return false;
          const counts = (await probe.pubsub('NUMSUB', ...channels)) as Array<string | number>;
          return counts.filter((_, i) => i % 2 === 1).reduce<number>((sum, n) => sum + Number(n), 0) >= 2;
        },
        { what: 'both workers subscribed to the gateway events' },
      );
    };
    await scenario(() => {
      const client = redis.client();
      clients.push(client);
      const store = new RedisStore({ client, prefix });
      stores.push(store);
      return store;
    }, subscribed);
    for (const s of stores) await s.close();
  });
});
