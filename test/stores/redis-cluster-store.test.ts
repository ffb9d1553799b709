/**
 * RedisStore on a real Redis Cluster (3 masters, 3 replicas, started here) through ioredis'
 * `Cluster`: the store contract, sessions spreading over the masters, events between hosts, and
 * the failover of the master holding a session.
 */
import { spawnSync } from 'node:child_process';
import type { Cluster } from 'ioredis';
import { type GatewayEvent, RedisStore } from '../../lib/index';
import { RedisKeys } from '../../lib/stores/redis-keys';
import { uniquePrefix } from '../helpers/redis';
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster';
import { deferred, waitFor } from '../helpers/wait';
import { describeStoreContract } from './store-contract';

/** `redis-cli --cluster` is needed to form the cluster: without it the suite is declared skipped. */
const hasClusterCli = ((): boolean => {
  const help = spawnSync('redis-cli', ['--cluster', 'help'], { encoding: 'utf8' });
  return `${help.stdout}${help.stderr}`.includes('create');
})();
const describeCluster = hasClusterCli ? describe : describe.skip;

describeCluster('RedisStore on a Redis Cluster', () => {
  let cluster: TestRedisCluster;
  const clients: Cluster[] = [];
  const client = (): Cluster => {
    const c = cluster.client();
    clients.push(c);
    return c;
  };
  let shared: Cluster;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    shared = client();
    await shared.ping();
  }, 60_000);

  afterAll(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await cluster?.close();
  });

  describeStoreContract('RedisStore (Cluster)', () => new RedisStore({ client: shared, prefix: uniquePrefix('cluster-contract') }));

  test('sessions spread: their keys land on every master, each beside its owner set in one slot', async () => {
    const prefix = uniquePrefix('spread');
    const store = new RedisStore({ client: shared, prefix });
    const keys = new RedisKeys(prefix);
    try {
      await store.registerWorker({ workerId: 'w1', internalUrl: 'http://10.0.0.1:4000' });
      const ids = Array.from({ length: 90 }, (_, i) => `w1.session-${i}`);
      await Promise.all(ids.map((sessionId) => store.claimSession({ sessionId, workerId: 'w1', scope: '*' })));
      // Every session key shares its slot with its owner set (CLUSTER KEYSLOT, as the server computes it).
      for (const id of ids.slice(0, 10)) {
        expect(await shared.cluster('KEYSLOT', keys.session(id))).toBe(await shared.cluster('KEYSLOT', keys.sessionSet(id, 'w1')));
      }
      const perMaster = await Promise.all(
        shared.nodes('master').map(async (node) => {
          let count = 0;
          let cursor = '0';
          do {
            const [next, page] = await node.scan(cursor, 'MATCH', `${prefix}v2:{*}:session:*`, 'COUNT', 1000);
            cursor = next;
            count += page.length;
          } while (cursor !== '0');
          return count;
        }),
      );
      expect(perMaster).toHaveLength(3);
      expect(perMaster.reduce((a, b) => a + b, 0)).toBe(ids.length);
      // Even bucket slots over even slot ranges: every master holds a share.
      for (const count of perMaster) expect(count).toBeGreaterThan(0);
      await store.deregisterWorker('w1');
      expect((await Promise.all(ids.map((id) => store.getSession(id)))).filter(Boolean)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  test('events published by one host reach another over Cluster pub/sub', async () => {
    const prefix = uniquePrefix('events');
    const [one, other] = [client(), client()];
    await Promise.all([one.ping(), other.ping()]);
    const publisher = new RedisStore({ client: one, prefix });
    const receiver = new RedisStore({ client: other, prefix });
    try {
      const got = deferred<GatewayEvent>();
      receiver.subscribe((event) => got.resolve(event));
      const event: GatewayEvent = { type: 'catalog-changed', serverId: 'alpha', origin: 'w1' };
      // The subscription is made asynchronously and announces nothing: publish until it is heard.
      let heard: GatewayEvent | undefined;
      void got.promise.then((e) => (heard = e));
      await waitFor(async () => (await publisher.publish(event), heard), { intervalMs: 50, what: 'the event heard by the other host' });
      expect(heard).toEqual(event);
    } finally {
      await publisher.close();
      await receiver.close();
    }
  });

  test('failover: the master holding a session is killed; once its replica is promoted the session still works', async () => {
    const prefix = uniquePrefix('failover');
    const failoverClient = client();
    const store = new RedisStore({ client: failoverClient, prefix, operationTimeoutMs: 2000 });
    try {
      await store.registerWorker({ workerId: 'w1', internalUrl: 'http://10.0.0.1:4000' });
      const sessionId = 'w1.failover';
      expect(await store.claimSession({ sessionId, workerId: 'w1', scope: 'alpha' })).toBe(true);
      const slot = Number(await failoverClient.cluster('KEYSLOT', new RedisKeys(prefix).session(sessionId)));
      const master = await cluster.masterOf(slot);
      // Replication is asynchronous: the replica has the claim before its master dies.
      await cluster.waitReplicated(master);
      await cluster.kill(master);
      await cluster.waitHealthy('a replica promoted for the killed master');
      const promoted = await cluster.masterOf(slot);
      expect(promoted).not.toBe(master);
      // The client learns the new slot owner from the cluster: ask it for the slots again before
      // each try, rather than waiting for its own refresh after failed calls (slow on a busy machine).
      const record = await waitFor(
        async () => {
          await new Promise<void>((resolve) => failoverClient.refreshSlotsCache(() => resolve()));
          return Promise.resolve(store.getSession(sessionId)).catch(() => undefined);
        },
        { timeoutMs: 30_000, intervalMs: 100, what: 'the session read from the promoted replica' },
      );
      expect(record).toMatchObject({ sessionId, workerId: 'w1', scope: 'alpha' });
      store.touchSession(sessionId, 'w1', 'alpha');
      expect(
        await store.saveSession({ sessionId, workerId: 'w1', scope: 'alpha', epoch: 0, snapshot: { logLevel: 'info' } as never }),
      ).toBe(true);
    } finally {
      await store.close();
    }
  }, 60_000);
});
