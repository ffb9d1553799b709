/**
 * The behaviour every `SessionStore` must have, as plain async checks (`node:assert`), runnable
 * with any test framework: `runStoreContract(() => new MyStore())` resolves one result per case.
 * `id(name)` makes worker and session ids unique to one run of one case, for stores whose state
 * outlives a case (a cluster primary, a shared Redis).
 */
import assert from 'node:assert/strict';
import type { SessionStore } from '../types.js';

/** One check of the contract. */
export interface StoreContractCase {
  readonly name: string;
  /** Needs a second live worker with one id: in a cluster that is a second process. */
  readonly sameProcessDuplicate?: boolean;
  /** Only for stores with session continuity (`saveSession`, `adoptSession`, `retireWorker`). */
  readonly continuity?: boolean;
  run(store: SessionStore, id: (name: string) => string): Promise<void>;
}

export const storeContractCases: readonly StoreContractCase[] = [
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
      assert.ok(winner && [id('w1'), id('w2')].includes(winner.workerId));
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
  {
    name: 'continuity: a claim keeps its snapshot; only the owner at its epoch saves a new one',
    continuity: true,
    async run(store, id) {
      await store.registerWorker({ workerId: id('w1'), internalUrl: 'http://127.0.0.1:1001' });
      const init = { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c', version: '1' } };
      await store.claimSession({ sessionId: id('s'), workerId: id('w1'), scope: 'alpha', epoch: 0, snapshot: { init } });
      assert.deepEqual((await store.getSession(id('s')))?.snapshot, { init });
      assert.equal(
        await store.saveSession!({
          sessionId: id('s'),
          workerId: id('w1'),
          scope: 'alpha',
          epoch: 0,
          snapshot: { init, logLevel: 'error' },
        }),
        true,
      );
      assert.equal((await store.getSession(id('s')))?.snapshot?.logLevel, 'error');
      assert.equal(
        await store.saveSession!({ sessionId: id('s'), workerId: id('w2'), scope: 'alpha', epoch: 0, snapshot: { init } }),
        false,
      );
      assert.equal(
        await store.saveSession!({ sessionId: id('s'), workerId: id('w1'), scope: 'alpha', epoch: 3, snapshot: { init } }),
        false,
      );
    },
  },
  {
    name: 'continuity: a live owner keeps its session; a retired one loses it to exactly one adopter, epoch + 1',
    continuity: true,
    async run(store, id) {
      await store.registerWorker({ workerId: id('w1'), internalUrl: 'http://127.0.0.1:1001' });
      await store.registerWorker({ workerId: id('w2'), internalUrl: 'http://127.0.0.1:1002' });
      await store.registerWorker({ workerId: id('w3'), internalUrl: 'http://127.0.0.1:1003' });
      await store.claimSession({ sessionId: id('s'), workerId: id('w1'), scope: '*', epoch: 0 });
      assert.equal((await store.adoptSession!(id('s'), id('w2')))?.workerId, id('w1'));
      await store.retireWorker!(id('w1'));
      assert.equal(await store.getWorker(id('w1')), undefined);
      const results = await Promise.all([id('w2'), id('w3'), id('w2'), id('w3')].map((w) => store.adoptSession!(id('s'), w)));
      const owner = results[0]?.workerId;
      assert.ok([id('w2'), id('w3')].includes(owner!));
      for (const r of results) assert.equal(r?.workerId, owner);
      assert.equal((await store.getSession(id('s')))?.epoch, 1);
      assert.equal(await store.adoptSession!(id('nothing'), id('w2')), undefined);
    },
  },
  {
    name: 'continuity: a worker the caller found unreachable may be adopted from while still registered',
    continuity: true,
    async run(store, id) {
      await store.registerWorker({ workerId: id('w1'), internalUrl: 'http://127.0.0.1:1001' });
      await store.registerWorker({ workerId: id('w2'), internalUrl: 'http://127.0.0.1:1002' });
      await store.claimSession({ sessionId: id('s'), workerId: id('w1'), scope: '*', epoch: 0 });
      assert.equal((await store.adoptSession!(id('s'), id('w2'), id('w1')))?.workerId, id('w2'));
    },
  },
  {
    name: 'listSessions: the records of one principal, and only theirs (when the store lists)',
    async run(store, id) {
      if (!store.listSessions) return;
      const init = { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c', version: '1' } };
      const alice = `https://issuer ${id('alice')}`;
      await store.registerWorker({ workerId: id('w1'), internalUrl: 'http://127.0.0.1:1001' });
      for (const [session, principal] of [
        ['s1', alice],
        ['s2', alice],
        ['s3', `https://issuer ${id('bob')}`],
      ] as const) {
        await store.claimSession({ sessionId: id(session), workerId: id('w1'), scope: '*', snapshot: { init, principal } });
      }
      await store.claimSession({ sessionId: id('s4'), workerId: id('w1'), scope: '*' });
      const listed = await store.listSessions({ principal: alice });
      assert.deepEqual(listed.map((r) => r.sessionId).sort(), [id('s1'), id('s2')].sort());
      await store.releaseSession(id('s1'), id('w1'));
      assert.deepEqual(
        (await store.listSessions({ principal: alice })).map((r) => r.sessionId),
        [id('s2')],
      );
    },
  },
];

/** The outcome of one case. */
export interface StoreContractResult {
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
}

/**
 * Runs every case against a fresh store from `makeStore` (closed after its case), one after the
 * other. Continuity cases run when the store has the continuity methods.
 */
export async function runStoreContract(
  makeStore: () => SessionStore | Promise<SessionStore>,
  options: { id?: (name: string, caseIndex: number) => string; skip?: (contractCase: StoreContractCase) => boolean } = {},
): Promise<StoreContractResult[]> {
  const results: StoreContractResult[] = [];
  for (const [index, contractCase] of storeContractCases.entries()) {
    if (options.skip?.(contractCase)) continue;
    const store = await makeStore();
    if (contractCase.continuity && typeof store.adoptSession !== 'function') {
      await store.close?.();
      continue;
    }
    try {
      await contractCase.run(store, (name) => options.id?.(name, index) ?? name);
      results.push({ name: contractCase.name, ok: true });
    } catch (error) {
      results.push({ name: contractCase.name, ok: false, error: String(error) });
    } finally {
      await store.close?.();
    }
  }
  return results;
}
