/**
 * RedisStore against a real redis-server (REDIS_URL, or one started on a free port), under RESP2
 * and RESP3, each test under its own key prefix.
 */
import type Redis from 'ioredis';
import { McpAffinityError, RedisStore } from '../../lib/index';
import { RedisKeys } from '../../lib/stores/redis-keys';
import { startRedis, type TestRedis, uniquePrefix } from '../helpers/redis';
import { waitFor } from '../helpers/wait';
import { describeStoreContract } from './store-contract';

// Stopping Redis needs a server this test started: with an external REDIS_URL the test is declared skipped.
const testWithOwnRedis = process.env.REDIS_URL ? test.skip : test;

let redis: TestRedis;
const clients: Redis[] = [];

beforeAll(async () => {
  redis = await startRedis();
  for (const protocol of [2, 3] as const) clients.push(redis.client({ protocol }));
  await Promise.all(clients.map((c) => c.ping()));
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit()));
  await redis.stop();
});

describeStoreContract('RedisStore (RESP2)', () => new RedisStore({ client: clients[0]!, prefix: uniquePrefix('contract2') }));
describeStoreContract('RedisStore (RESP3)', () => new RedisStore({ client: clients[1]!, prefix: uniquePrefix('contract3') }));

describe.each([2, 3])('RedisStore specifics (RESP%i)', (protocol) => {
  const client = (): Redis => clients[protocol - 2]!;
  const stores: RedisStore[] = [];
  const make = (options: Partial<ConstructorParameters<typeof RedisStore>[0]> & { prefix: string }): RedisStore => {
    const store = new RedisStore({ client: client(), ...options });
    stores.push(store);
    return store;
  };
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  test('keys live under the prefix and layout v2, a session beside its owner set in its bucket; the store never quits the client', async () => {
    const prefix = uniquePrefix('keys');
    const store = make({ prefix });
    await store.registerWorker({ workerId: 'w1', internalUrl: 'http://10.0.0.1:4000' });
    await store.claimSession({ sessionId: 'w1.abc', workerId: 'w1', scope: 'alpha' });
    const keys = (await client().keys(`${prefix}*`)).sort();
    const bucket = new RedisKeys(prefix).bucketOf('w1.abc');
    expect(bucket).toMatch(new RegExp(`^${prefix}v2:\\{[0-9.]+\\}:$`));
    expect(keys).toEqual([`${bucket}session:w1.abc`, `${bucket}sessions:w1`, `${prefix}v2:worker:w1`].sort());
    await store.close();
    expect(client().status).toBe('ready');
    await store.deregisterWorker('w1');
    expect(await client().keys(`${prefix}*`)).toEqual([]);
  });

  test('a remote worker costs one round trip on a miss and none on a hit', async () => {
    const prefix = uniquePrefix('cache');
    const owner = make({ prefix });
    const peer = make({ prefix, workerCacheMs: 60_000 });
    await owner.registerWorker({ workerId: 'w1', internalUrl: 'http://10.0.0.1:4000' });
    expect(await peer.getWorker('w1')).toEqual({ workerId: 'w1', internalUrl: 'http://10.0.0.1:4000' });
    expect(peer.stats()).toEqual({ roundTrips: 1, workerCacheHits: 0, workerCacheMisses: 1 });
    for (let i = 0; i < 5; i++) expect(peer.getWorker('w1')).toEqual({ workerId: 'w1', internalUrl: 'http://10.0.0.1:4000' });
    expect(peer.stats()).toEqual({ roundTrips: 1, workerCacheHits: 5, workerCacheMisses: 1 });
    // A forward that found the owner gone drops the entry: the next lookup asks Redis again.
    peer.forgetWorker('w1');
    await peer.getWorker('w1');
    expect(peer.stats().roundTrips).toBe(2);
  });

  test('a worker whose heartbeat stops drops out within the heartbeat window; its sessions stay, adoptable', async () => {
    const prefix = uniquePrefix('heartbeat');
    const dying = make({ prefix, heartbeatIntervalMs: 100, heartbeatTtlMs: 300 });
    const peer = make({ prefix, heartbeatIntervalMs: 100, heartbeatTtlMs: 300, workerCacheMs: 50 });
    await dying.registerWorker({ workerId: 'w1', internalUrl: 'http://10.0.0.1:4000' });
    await dying.claimSession({ sessionId: 'w1.s', workerId: 'w1', scope: '*' });
    const workerKey = new RedisKeys(prefix).worker('w1');
    // The lease only moves on a heartbeat Redis acknowledged: once it ends a whole TTL past the
    // registration's, a heartbeat sent after the registration's TTL had run out was acknowledged.
    const registeredUntil = dying.lease('w1')!.until;
    await waitFor(() => dying.lease('w1')!.until > registeredUntil + 300, { what: 'a heartbeat past the registration TTL' });
    expect(await peer.getWorker('w1')).toBeDefined(); // heartbeats keep it alive past its TTL
    await dying.close(); // the process "dies": no more heartbeats, no deregistration
    // Within the heartbeat window: what the last heartbeat left is at most one TTL (on Redis' clock).
    const left = await client().pttl(workerKey);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(300);
    await waitFor(async () => (await client().exists(workerKey)) === 0, { what: 'the worker key expired in Redis' });
    expect(await peer.getWorker('w1')).toBeUndefined();
    // The session outlives its owner, for another worker to adopt (session continuity).
    expect(await peer.getSession('w1.s')).toMatchObject({ workerId: 'w1', epoch: 0 });
    await peer.registerWorker({ workerId: 'w2', internalUrl: 'http://10.0.0.2:4000' });
    expect(await peer.adoptSession('w1.s', 'w2')).toMatchObject({ workerId: 'w2', epoch: 1 });
    expect(await peer.adoptSession('w1.s', 'w3')).toMatchObject({ workerId: 'w2', epoch: 1 });
  });

  test('sessions expire when idle; throttled touches slide the expiry', async () => {
    const prefix = uniquePrefix('ttl');
    const store = make({ prefix, sessionTtlMs: 400, touchIntervalMs: 100 });
    await store.registerWorker({ workerId: 'w1', internalUrl: 'http://10.0.0.1:4000' });
    await store.claimSession({ sessionId: 'w1.busy', workerId: 'w1', scope: '*' });
    await store.claimSession({ sessionId: 'w1.idle', workerId: 'w1', scope: '*' });
    const scriptCalls = async (): Promise<number> =>
      Number((await client().info('commandstats')).match(/cmdstat_evalsha:calls=(\d+)/)?.[1] ?? 0);
    // Expiry runs on Redis' clock: the busy session, claimed first, is touched every 20 ms until Redis
    // expires the idle one (EXISTS, not a script: the count below is of scripts).
    await waitFor(
      async () => {
        store.touchSession('w1.busy', 'w1', '*');
        return (await client().exists(new RedisKeys(prefix).session('w1.idle'))) === 0;
      },
      { what: 'the idle session expired in Redis' },
    );
    expect(await store.getSession('w1.busy')).toBeDefined();
    expect(await store.getSession('w1.idle')).toBeUndefined();

    // The throttle runs on the JS clock: fake timers space 40 touches 20 ms apart in no time.
    const before = await scriptCalls();
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      for (let i = 0; i < 40; i++) {
        store.touchSession('w1.busy', 'w1', '*');
        await jest.advanceTimersByTimeAsync(20);
      }
    } finally {
      jest.useRealTimers();
    }
    // INFO goes after the touches on the same connection: every write sent is counted.
    const writes = (await scriptCalls()) - before;
    // 40 touches over 800 ms with a 100 ms throttle: about 8 writes, not 40 (other tests may
    // share the server, hence the margin).
    expect(writes).toBeGreaterThanOrEqual(4);
    expect(writes).toBeLessThan(20);
    expect(await store.getSession('w1.busy')).toBeDefined();
  });

  test('a worker registered under key layout v1 (mixed gateway versions) is warned about, once', async () => {
    const prefix = uniquePrefix('legacy');
    const warnings: string[] = [];
    const logger = { warn: (m: string) => warnings.push(m), error: () => undefined, info: () => undefined };
    const store = make({ prefix, logger });
    await client().set(`${prefix}{affinity}:worker:old1`, JSON.stringify({ workerId: 'old1', internalUrl: 'http://10.0.0.9:4000' }));
    expect(await store.getWorker('old1')).toBeUndefined(); // a v2 gateway does not route to it...
    await waitFor(() => warnings.length > 0, { what: 'the layout warning' }); // ...and says why
    expect(warnings[0]).toMatch(/old1 is registered under RedisStore key layout v1/);
    // Once warned, the store checks no more.
    await client().set(`${prefix}{affinity}:worker:old2`, '{}');
    expect(await store.getWorker('old2')).toBeUndefined();
    expect(warnings).toHaveLength(1);
  });

  test('a duplicate worker id is refused at registration', async () => {
    const prefix = uniquePrefix('dup');
    const first = make({ prefix });
    const second = make({ prefix });
    await first.registerWorker({ workerId: 'w1', internalUrl: 'http://10.0.0.1:4000' });
    await expect(second.registerWorker({ workerId: 'w1', internalUrl: 'http://10.0.0.2:4000' })).rejects.toThrow(
      /already registered by another live worker/,
    );
  });
});

test('RedisStore refuses a wrong client or prefix at creation, naming the option', () => {
  expect(() => new RedisStore({ client: {} as never })).toThrow(McpAffinityError);
  expect(() => new RedisStore({ client: {} as never })).toThrow(/`client` received an object/);
  expect(() => new RedisStore({ client: clients[0]!, prefix: 'a{b}' })).toThrow(/`prefix` received "a\{b\}"/);
  expect(() => new RedisStore({ client: clients[0]!, heartbeatIntervalMs: 1000, heartbeatTtlMs: 500 })).toThrow(/`heartbeatTtlMs`/);
});

describe('Redis outage', () => {
  testWithOwnRedis('lookups fail fast while Redis is down, stale entries keep routing, and everything recovers', async () => {
    const own = await startRedis();
    const client = own.client({ maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    const prefix = uniquePrefix('outage');
    const owner = new RedisStore({ client, prefix, heartbeatIntervalMs: 100, heartbeatTtlMs: 1000, workerCacheMs: 50 });
    const peer = new RedisStore({ client, prefix, workerCacheMs: 50, operationTimeoutMs: 300 });
    try {
      await client.ping();
      await owner.registerWorker({ workerId: 'w1', internalUrl: 'http://10.0.0.1:4000' });
      expect(await peer.getWorker('w1')).toBeDefined();
      // Not once(): that rejects on the 'error' events a lost connection may bring.
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      await own.stop();
      await closed; // the client saw the connection go: calls now fail fast

      await expect(Promise.resolve(peer.getWorker('w-unknown'))).rejects.toMatchObject({ code: 'ERR_MCP_AFFINITY_STORE_UNAVAILABLE' });
      await expect(peer.claimSession({ sessionId: 'w1.x', workerId: 'w1', scope: '*' })).rejects.toMatchObject({
        code: 'ERR_MCP_AFFINITY_STORE_UNAVAILABLE',
      });
      // The cached owner is stale, but still used while Redis is away.
      expect(await peer.getWorker('w1')).toEqual({ workerId: 'w1', internalUrl: 'http://10.0.0.1:4000' });

      const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));
      await own.restart(); // empty: a restart without persistence lost every key
      await ready;
      // A heartbeat re-creates the membership.
      await waitFor(async () => (await client.exists(new RedisKeys(prefix).worker('w1'))) === 1, { what: 'a heartbeat re-created w1' });
      expect(await peer.getWorker('w1')).toEqual({ workerId: 'w1', internalUrl: 'http://10.0.0.1:4000' });
      expect(await peer.claimSession({ sessionId: 'w1.y', workerId: 'w1', scope: '*' })).toBe(true);
    } finally {
      await owner.close();
      await peer.close();
      client.disconnect();
      await own.stop();
    }
  });
});

test('concurrent lookups that miss together share one round trip', async () => {
  const prefix = uniquePrefix('single-flight');
  const owner = new RedisStore({ client: clients[1]!, prefix });
  const peer = new RedisStore({ client: clients[1]!, prefix });
  try {
    await owner.registerWorker({ workerId: 'w1', internalUrl: 'http://10.0.0.1:4000' });
    const answers = await Promise.all(Array.from({ length: 20 }, () => peer.getWorker('w1')));
    expect(answers.every((a) => a?.workerId === 'w1')).toBe(true);
    expect(peer.stats()).toEqual({ roundTrips: 1, workerCacheHits: 0, workerCacheMisses: 20 });
  } finally {
    await owner.close();
    await peer.close();
  }
});
