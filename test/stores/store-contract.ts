/**
 * The behaviour every SessionStore must have (`storeContractCases`, exported by the package), as a
 * jest suite. Each case gets a fresh store (and, for shared backends, its own key prefix). The
 * same cases run against ClusterStore inside a real cluster worker (test/stores/cluster-store.test.ts).
 */
import { type SessionStore, storeContractCases } from '../../lib/index';

export function describeStoreContract(name: string, makeStore: () => Promise<SessionStore> | SessionStore): void {
  describe(`${name} honours the SessionStore contract`, () => {
    let store: SessionStore;
    beforeEach(async () => {
      store = await makeStore();
    });
    afterEach(async () => {
      await store.close?.();
    });
    test.each(storeContractCases.map((c) => [c.name, c] as const))('%s', async (_name, contractCase) => {
      await contractCase.run(store, (n) => n);
    });
  });
}
