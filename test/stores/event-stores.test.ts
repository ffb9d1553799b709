/**
 * Both event stores against the SDK's EventStore contract: ids, replay after an id, bounds, TTL.
 * RedisEventStore runs against a real redis-server under its own key prefix.
 */

import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type Redis from 'ioredis';
import { MemoryEventStore, RedisEventStore } from '../../lib/index';
import { startRedis, type TestRedis, uniquePrefix } from '../helpers/redis';
import { waitFor } from '../helpers/wait';

const progressOf = (m: JSONRPCMessage): number => (m as unknown as { params: { progress: number } }).params.progress;
const message = (n: number): JSONRPCMessage => ({
  jsonrpc: '2.0',
  method: 'notifications/progress',
  params: { progressToken: 't', progress: n },
});

let redis: TestRedis;
let client: Redis;
const memoryStores: MemoryEventStore[] = [];

beforeAll(async () => {
  redis = await startRedis();
  client = redis.client();
  await client.ping();
});
afterAll(async () => {
  for (const s of memoryStores) s.close();
  client.disconnect();
  await redis.stop();
});

type Make = (options: { maxEventsPerStream?: number; ttlMs?: number }) => MemoryEventStore | RedisEventStore;
const makers: Array<[string, Make]> = [
  [
    'MemoryEventStore',
    (o) => {
      const s = new MemoryEventStore(o);
      memoryStores.push(s);
      return s;
    },
  ],
  ['RedisEventStore', (o) => new RedisEventStore({ client, prefix: uniquePrefix('events'), ...o })],
];

describe.each(makers)('%s', (name, make) => {
  const replay = async (store: MemoryEventStore | RedisEventStore, after: string) => {
    const seen: Array<[string, JSONRPCMessage]> = [];
    const streamId = await store.replayEventsAfter(after, { send: async (id, m) => void seen.push([id, m]) });
    return { streamId, seen };
  };

  test('replays exactly the events after the given one, in order, on their own stream', async () => {
    const store = make({});
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push(await store.storeEvent('stream-a', message(i)));
    await store.storeEvent('stream-b', message(99));
    expect(new Set(ids).size).toBe(5);
    expect(await store.getStreamIdForEventId!(ids[1]!)).toBe('stream-a');
    const { streamId, seen } = await replay(store, ids[1]!);
    expect(streamId).toBe('stream-a');
    expect(seen.map(([id]) => id)).toEqual(ids.slice(2));
    expect(seen.map(([, m]) => progressOf(m))).toEqual([3, 4, 5]);
    expect((await replay(store, ids[4]!)).seen).toEqual([]);
  });

  test('an unknown or malformed event id replays nothing', async () => {
    const store = make({});
    await store.storeEvent('stream-a', message(1));
    for (const id of ['nope', 'unknown~1', '~']) expect((await replay(store, id)).seen).toEqual([]);
    expect(await store.getStreamIdForEventId!('unknown~1')).toBeUndefined();
  });

  test('a stream keeps a bounded number of events', async () => {
    const store = make({ maxEventsPerStream: 10 });
    const first = await store.storeEvent('stream-c', message(0));
    for (let i = 1; i < 300; i++) await store.storeEvent('stream-c', message(i));
    const { seen } = await replay(store, first);
    // MAXLEN ~ trims by whole nodes in Redis: bounded, not exact.
    expect(seen.length).toBeLessThan(150);
    expect(progressOf(seen.at(-1)![1])).toBe(299);
  });

  test('a stream is forgotten after its TTL', async () => {
    // The memory store's sweeper runs on JS timers (fake ones here); Redis expires the key on its own clock.
    const inMemory = name === 'MemoryEventStore';
    if (inMemory) jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const store = make({ ttlMs: 100 });
      const id = await store.storeEvent('stream-d', message(1));
      await store.storeEvent('stream-d', message(2));
      expect((await replay(store, id)).seen).toHaveLength(1);
      if (inMemory) {
        await jest.advanceTimersByTimeAsync(250); // past the TTL, and the sweep after it
      } else {
        await waitFor(async () => (await store.getStreamIdForEventId!(id)) === undefined, { what: 'the stream key expired in Redis' });
      }
      expect((await replay(store, id)).seen).toEqual([]);
    } finally {
      jest.useRealTimers();
    }
  });
});
