/**
 * The hot path on RedisStore, counted: two workers in this process, each with its own RedisStore
 * on one real redis-server, requests sent to a chosen worker over a new connection each.
 */
import type http from 'node:http';
import type Redis from 'ioredis';
import { RedisStore } from '../lib/index';
import { openSession, type RunningGateway, rawRequest, rpc, startGateway, testCatalog } from './helpers/gateway';
import { startRedis, type TestRedis, uniquePrefix } from './helpers/redis';
import { deferred } from './helpers/wait';

let redis: TestRedis;
let client: Redis;

/** Calls of each Redis command since the server started. */
async function commandCalls(): Promise<Record<string, number>> {
  const info = await client.info('commandstats');
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)) calls[match[1]!] = Number(match[2]);
  return calls;
}

/** Commands other than the INFO calls this test makes. */
async function commandsDuring(run: () => Promise<void>): Promise<number> {
  const before = await commandCalls();
  await run();
  const after = await commandCalls();
  return Object.entries(after).reduce((sum, [name, n]) => (name === 'info' ? sum : sum + n - (before[name] ?? 0)), 0);
}

beforeAll(async () => {
  redis = await startRedis();
  client = redis.client();
  await client.ping();
});

afterAll(async () => {
  client.disconnect();
  await redis.stop();
});

describe('sessionAffinity on RedisStore', () => {
  let a: RunningGateway;
  let b: RunningGateway;
  let storeA: RedisStore;
  let storeB: RedisStore;

  beforeEach(async () => {
    const prefix = uniquePrefix('hot-path');
    const catalog = testCatalog();
    // No heartbeat during a test: every Redis command counted below comes from request handling.
    // Affinity alone: a session ends with its owner (continuity on Redis: test/e2e/multi-host-redis).
    storeA = new RedisStore({ client, prefix, heartbeatIntervalMs: 60_000 });
    a = await startGateway({ store: storeA, catalog, sessionContinuity: false });
    storeB = new RedisStore({ client, prefix, heartbeatIntervalMs: 60_000, workerCacheMs: 60_000 });
    b = await startGateway({ store: storeB, catalog, sessionContinuity: false });
  });

  afterEach(async () => {
    await Promise.all([a.close(), b.close()]);
    // The gateways close only stores they made: these are the test's, and so is closing them.
    await Promise.all([storeA.close(), storeB.close()]);
  });

  test('a session its worker owns costs no Redis command at all', async () => {
    const sessionId = await openSession(`${a.url}/servers/alpha/mcp`);
    const commands = await commandsDuring(async () => {
      for (let i = 0; i < 20; i++) {
        const response = await rpc(
          `${a.url}/servers/alpha/mcp`,
          { jsonrpc: '2.0', id: i, method: 'tools/list' },
          { 'mcp-session-id': sessionId },
        );
        expect(response.status).toBe(200);
      }
    });
    expect(commands).toBe(0);
  });

  test('a remote owner costs one round trip on the first request and none after; its death invalidates the cache', async () => {
    const sessionId = await openSession(`${a.url}/servers/alpha/mcp`);
    const before = storeB.stats();
    for (let i = 0; i < 20; i++) {
      const response = await rpc(
        `${b.url}/servers/alpha/mcp`,
        { jsonrpc: '2.0', id: i, method: 'tools/list' },
        { 'mcp-session-id': sessionId },
      );
      expect(response.headers['mcp-affinity-forwarded']).toBe('true');
    }
    const after = storeB.stats();
    expect(after.roundTrips - before.roundTrips).toBe(1);
    expect(after.workerCacheHits - before.workerCacheHits).toBe(19);

    // The owner's process vanishes (no deregistration): the forward finds nobody, answers 404 and
    // drops the cached address, so the next request asks Redis again.
    const internal = (a.router.worker as unknown as { internal: { server: http.Server } }).internal.server;
    internal.closeAllConnections();
    await new Promise<void>((resolve) => internal.close(() => resolve()));
    const gone = await rpc(`${b.url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: 99, method: 'tools/list' }, { 'mcp-session-id': sessionId });
    expect(gone.status).toBe(404);
    await rpc(`${b.url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: 100, method: 'tools/list' }, { 'mcp-session-id': sessionId });
    expect(storeB.stats().roundTrips - after.roundTrips).toBe(1);
  });

  test('the session’s record holds its owner and endpoint, and DELETE through a peer removes it', async () => {
    const sessionId = await openSession(`${a.url}/servers/beta/mcp`);
    expect(await storeB.getSession(sessionId)).toMatchObject({ sessionId, workerId: a.workerId, scope: 'beta', epoch: 0 });
    // The owner releases the record fire-and-forget: the test waits for that call to settle.
    const released = deferred();
    const release = storeA.releaseSession.bind(storeA);
    jest
      .spyOn(storeA, 'releaseSession')
      .mockImplementation((id, workerId) => release(id, workerId).finally(() => id === sessionId && released.resolve()));
    const del = await rawRequest(`${b.url}/servers/beta/mcp`, {
      method: 'DELETE',
      headers: { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' },
    });
    expect(del.status).toBe(200);
    await released.promise;
    expect(await storeB.getSession(sessionId)).toBeUndefined();
    expect(
      (await rpc(`${b.url}/servers/beta/mcp`, { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': sessionId })).status,
    ).toBe(404);
  });
});
