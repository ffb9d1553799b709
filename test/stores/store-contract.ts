/**
 * The behaviour every SessionStore must have. Run it against each store with its own factory;
 * each call gets a fresh store (and, for shared backends, its own key prefix).
 */
import type { SessionStore } from '../../lib/index';

export function describeStoreContract(name: string, makeStore: () => Promise<SessionStore> | SessionStore): void {
  describe(`${name} honours the SessionStore contract`, () => {
    let store: SessionStore;
    beforeEach(async () => {
      store = await makeStore();
    });
    afterEach(async () => {
      await store.close?.();
    });

    test('registers, resolves and deregisters workers', async () => {
      expect(await store.getWorker('w1')).toBeUndefined();
      await store.registerWorker({ workerId: 'w1', internalUrl: 'http://127.0.0.1:1001' });
      await store.registerWorker({ workerId: 'w2', internalUrl: 'http://127.0.0.1:1002' });
      expect(await store.getWorker('w1')).toEqual({ workerId: 'w1', internalUrl: 'http://127.0.0.1:1001' });
      await store.deregisterWorker('w1');
      expect(await store.getWorker('w1')).toBeUndefined();
      expect(await store.getWorker('w2')).toBeDefined();
    });

    test('a second live worker with the same id is refused', async () => {
      await store.registerWorker({ workerId: 'w1', internalUrl: 'http://127.0.0.1:1001' });
      await expect(store.registerWorker({ workerId: 'w1', internalUrl: 'http://127.0.0.1:1009' })).rejects.toThrow(/already registered/);
      expect(await store.getWorker('w1')).toEqual({ workerId: 'w1', internalUrl: 'http://127.0.0.1:1001' });
    });

    test('a claim is exclusive: of concurrent claims for one id exactly one wins', async () => {
      await store.registerWorker({ workerId: 'w1', internalUrl: 'http://127.0.0.1:1001' });
      await store.registerWorker({ workerId: 'w2', internalUrl: 'http://127.0.0.1:1002' });
      const results = await Promise.all(
        ['w1', 'w2', 'w1', 'w2'].map((workerId) => store.claimSession({ sessionId: 's1', workerId, scope: 'alpha' })),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = await store.getSession('s1');
      expect(['w1', 'w2']).toContain(winner?.workerId);
      expect(winner).toMatchObject({ sessionId: 's1', scope: 'alpha' });
    });

    test('only the owner releases a session', async () => {
      await store.registerWorker({ workerId: 'w1', internalUrl: 'http://127.0.0.1:1001' });
      expect(await store.claimSession({ sessionId: 's1', workerId: 'w1', scope: '*' })).toBe(true);
      await store.releaseSession('s1', 'w2');
      expect(await store.getSession('s1')).toBeDefined();
      await store.releaseSession('s1', 'w1');
      expect(await store.getSession('s1')).toBeUndefined();
      expect(await store.claimSession({ sessionId: 's1', workerId: 'w1', scope: '*' })).toBe(true);
    });

    test('a deregistered worker’s sessions go with it, and no one else’s', async () => {
      await store.registerWorker({ workerId: 'w1', internalUrl: 'http://127.0.0.1:1001' });
      await store.registerWorker({ workerId: 'w2', internalUrl: 'http://127.0.0.1:1002' });
      await store.claimSession({ sessionId: 'a', workerId: 'w1', scope: '*' });
      await store.claimSession({ sessionId: 'b', workerId: 'w2', scope: '*' });
      await store.deregisterWorker('w1');
      expect(await store.getSession('a')).toBeUndefined();
      expect(await store.getSession('b')).toBeDefined();
    });
  });
}
