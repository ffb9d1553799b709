/**
 * Session continuity on RedisStore, counted: routing stays free. A session awake on its owner costs
 * no Redis command; a session whose owner is gone costs one lookup and one adoption on the first
 * request, then nothing more (the new owner is cached), whichever worker receives it.
 */
import type http from 'node:http';
import type Redis from 'ioredis';
import { RedisStore } from '../../lib/index';
import { openSession, type RunningGateway, rpc, startGateway, testCatalog } from '../helpers/gateway';
import { startRedis, type TestRedis, uniquePrefix } from '../helpers/redis';

let redis: TestRedis;
let client: Redis;

beforeAll(async () => {
  redis = await startRedis();
  client = redis.client();
  await client.ping();
});
afterAll(async () => {
  client.disconnect();
  await redis.stop();
});

/** Redis commands run while `run` runs (INFO excluded); only meaningful on a private redis-server. */
async function commandsDuring(run: () => Promise<void>): Promise<Record<string, number>> {
  const read = async () => {
    const calls: Record<string, number> = {};
    for (const m of (await client.info('commandstats')).matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)) calls[m[1]!] = Number(m[2]);
    return calls;
  };
  const before = await read();
  await run();
  const after = await read();
  const spent: Record<string, number> = {};
  for (const [name, n] of Object.entries(after)) if (name !== 'info' && n > (before[name] ?? 0)) spent[name] = n - (before[name] ?? 0);
  return spent;
}

// Command counts need a server no one else uses: with an external REDIS_URL this is skipped, not passed.
const testOwned = process.env.REDIS_URL ? test.skip : test;

describe('continuity on RedisStore', () => {
  const running: RunningGateway[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((g) => g.close().catch(() => undefined)));
  });

  testOwned('owned: no command; adopted: its record and one adoption on the first request, then none, on any worker', async () => {
    const prefix = uniquePrefix('continuity');
    const store = () => new RedisStore({ client, prefix, heartbeatIntervalMs: 60_000, heartbeatTtlMs: 120_000, workerCacheMs: 60_000 });
    const stores = [store(), store(), store()];
    const [a, b, c] = await Promise.all(stores.map((s) => startGateway({ store: s, catalog: testCatalog() })));
    running.push(a!, b!, c!);
    const url = (g: RunningGateway) => `${g.url}/servers/alpha/mcp`;
    const sessionId = await openSession(url(a!));
    const call = (g: RunningGateway, id: number) =>
      rpc(
        url(g),
        { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } },
        { 'mcp-session-id': sessionId },
      );

    expect(
      await commandsDuring(async () => {
        for (let i = 0; i < 20; i++) expect((await call(a!, i)).status).toBe(200);
      }),
    ).toEqual({});

    // a's process vanishes: nobody listens at its addresses; it never deregisters.
    const internal = (a!.router.worker as unknown as { internal: { server: http.Server } }).internal.server;
    for (const server of [internal, a!.publicServer]) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    const before = stores[1]!.stats().roundTrips;
    const answer = await call(b!, 100);
    expect(answer.status).toBe(200);
    expect(answer.headers['mcp-affinity-served-by']).toBe(b!.workerId);
    // The owner's address (as for any first request to a remote owner), its record, the adoption.
    expect(stores[1]!.stats().roundTrips - before).toBe(3);
    // c learns the new owner once, then routes for free; b serves with no command at all.
    await call(c!, 200);
    const after = await commandsDuring(async () => {
      for (let i = 0; i < 10; i++) {
        expect((await call(c!, 300 + i)).headers['mcp-affinity-served-by']).toBe(b!.workerId);
        expect((await call(b!, 400 + i)).status).toBe(200);
      }
    });
    expect(after).toEqual({});
  });
});
