import { MemoryStore } from '../../lib/index';
import { describeStoreContract } from './store-contract';

describeStoreContract('MemoryStore', () => new MemoryStore());

test('MemoryStore answers lookups synchronously, so the hot path never awaits', async () => {
  const store = new MemoryStore();
  await store.registerWorker({ workerId: 'w1', internalUrl: 'http://127.0.0.1:1001' });
  expect(store.getWorker('w1')).toEqual({ workerId: 'w1', internalUrl: 'http://127.0.0.1:1001' });
  expect(store.getWorker('w1')).not.toBeInstanceOf(Promise);
});
