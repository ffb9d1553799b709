// The behaviour every SessionStore must have, as plain async checks (node:assert), so that the
// same cases run under jest (MemoryStore, RedisStore) and inside a real node:cluster worker
// (ClusterStore, test/fixtures/cluster-store-contract.mjs). `id(name)` makes worker and session ids
// unique to one run of one case, for stores whose state outlives a case (the cluster primary).
const assert = require('node:assert/strict');

/** @type {Array<{ name: string, sameProcessDuplicate?: boolean, run(store: import('../../lib/index').SessionStore, id: (name: string) => string): Promise<void> }>} */
module.exports = [
  {
    name: 'registers, resolves and deregisters workers',
    async run(store, id) {
      assert.equal(await store.getWorker(id('w1')), undefined);
      await store.registerWorker({ workerId: id('w1'), internalUrl: 'http://127.0.0.1:1001' });
      await store.registerWorker({ workerId: id('w2'), internalUrl: 'http://127.0.0.1:1002' });
      assert.deepEqual(await store.getWorker(id('w1')), { workerId: id('w1'), internalUrl: 'http://127.0.0.1:1001' });
      await store.deregisterWorker(id('w1'));
      assert.equal(await store.getWorker(id('w1')), undefined);
      assert.notEqual(await store.getWorker(id('w2')), undefined);
    },
  },
  {
    // Needs a second live worker: in a cluster that is a second process (the cluster probe test).
    name: 'a second live worker with the same id is refused',
    sameProcessDuplicate: true,
    async run(store, id) {
      await store.registerWorker({ workerId: id('w1'), internalUrl: 'http://127.0.0.1:1001' });
      await assert.rejects(store.registerWorker({ workerId: id('w1'), internalUrl: 'http://127.0.0.1:1009' }), /already registered/);
      assert.deepEqual(await store.getWorker(id('w1')), { workerId: id('w1'), internalUrl: 'http://127.0.0.1:1001' });
    },
  },
  {
    name: 'a claim is exclusive: of concurrent claims for one id exactly one wins',
    async run(store, id) {
      await store.registerWorker({ workerId: id('w1'), internalUrl: 'http://127.0.0.1:1001' });
      await store.registerWorker({ workerId: id('w2'), internalUrl: 'http://127.0.0.1:1002' });
      const results = await Promise.all(
        [id('w1'), id('w2'), id('w1'), id('w2')].map((workerId) => store.claimSession({ sessionId: id('s1'), workerId, scope: 'alpha' })),
      );
      assert.equal(results.filter(Boolean).length, 1);
      const winner = await store.getSession(id('s1'));
      assert.ok([id('w1'), id('w2')].includes(winner?.workerId));
      assert.equal(winner.sessionId, id('s1'));
      assert.equal(winner.scope, 'alpha');
    },
  },
  {
    name: 'only the owner releases a session',
    async run(store, id) {
      await store.registerWorker({ workerId: id('w1'), internalUrl: 'http://127.0.0.1:1001' });
      assert.equal(await store.claimSession({ sessionId: id('s1'), workerId: id('w1'), scope: '*' }), true);
      await store.releaseSession(id('s1'), id('w2'));
      assert.notEqual(await store.getSession(id('s1')), undefined);
      await store.releaseSession(id('s1'), id('w1'));
      assert.equal(await store.getSession(id('s1')), undefined);
      assert.equal(await store.claimSession({ sessionId: id('s1'), workerId: id('w1'), scope: '*' }), true);
    },
  },
  {
    name: 'a deregistered worker’s sessions go with it, and no one else’s',
    async run(store, id) {
      await store.registerWorker({ workerId: id('w1'), internalUrl: 'http://127.0.0.1:1001' });
      await store.registerWorker({ workerId: id('w2'), internalUrl: 'http://127.0.0.1:1002' });
      await store.claimSession({ sessionId: id('a'), workerId: id('w1'), scope: '*' });
      await store.claimSession({ sessionId: id('b'), workerId: id('w2'), scope: '*' });
      await store.deregisterWorker(id('w1'));
      assert.equal(await store.getSession(id('a')), undefined);
      assert.notEqual(await store.getSession(id('b')), undefined);
    },
  },
];
