import { MemoryStore, runStoreContract, storeContractCases } from '../../lib/index';
import { describeStoreContract } from './store-contract';

describeStoreContract('MemoryStore', () => new MemoryStore());

test('MemoryStore answers lookups synchronously, so the hot path never awaits', async () => {
  const store = new MemoryStore();
  await store.registerWorker({ workerId: 'w1', internalUrl: 'http://127.0.0.1:1001' });
  expect(store.getWorker('w1')).toEqual({ workerId: 'w1', internalUrl: 'http://127.0.0.1:1001' });
  expect(store.getWorker('w1')).not.toBeInstanceOf(Promise);
});

test('runStoreContract, as the package exports it for custom stores, passes every case on MemoryStore', async () => {
  const results = await runStoreContract(() => new MemoryStore());
  expect(results.map((r) => r.name)).toEqual(storeContractCases.map((c) => c.name));
  expect(results.filter((r) => !r.ok)).toEqual([]);
});
