/**
 * 2026-07-28 `subscriptions/listen` across workers: the real `@modelcontextprotocol/client` 2.x,
 * pinned to 2026-07-28, listens on worker A; changes raised on worker B (its own catalog, as
 * another process would have) reach it through the store's fan-out, MemoryStore and RedisStore
 * ("another host"), once each and within the stream's scope. A `notifications/cancelled` sent
 * to the other worker ends the stream.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { type MemoryCatalog, newConnectionFetch } from '../../lib/index';
import { SUBSCRIPTION_ID_META } from '../../lib/mcp/subscriptions';
import { type RunningGateway, rpc, startGateway, testCatalog } from '../helpers/gateway';
import { startRedis, storeFactory, type TestRedis, uniquePrefix } from '../helpers/redis';
import { deferred, waitFor } from '../helpers/wait';

const VERSION = '2026-07-28';
const meta = {
  'io.modelcontextprotocol/protocolVersion': VERSION,
  'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
const headers = (method: string) => ({ 'mcp-protocol-version': VERSION, 'mcp-method': method });
/** Opens a 2026-07-28 listen stream with a plain fetch (`init` adds a signal, say). */
const listen = (url: string, id: string | number, notifications: object, init: RequestInit = {}) =>
  fetch(url, {
    ...init,
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers('subscriptions/listen') },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'subscriptions/listen', params: { notifications, _meta: meta } }),
  });
const noop = { name: 'fresh', inputSchema: { type: 'object' as const, properties: {} }, handler: () => ({ content: [] }) };

describe('subscriptions/listen', () => {
  let redis: TestRedis | undefined;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  for (const kind of ['MemoryStore', 'RedisStore'] as const) {
    describe(kind, () => {
      let a: RunningGateway;
      let b: RunningGateway;
      let catalogB: MemoryCatalog;
      let stores: ReturnType<typeof storeFactory>;
      beforeAll(async () => {
        stores = storeFactory(kind, redis, uniquePrefix('listen'));
        const store = () => stores.store();
        catalogB = testCatalog();
        a = await startGateway({ store: store(), catalog: testCatalog() });
        b = await startGateway({ store: store(), catalog: catalogB });
      });
      afterAll(async () => {
        await b?.close();
        await a?.close();
        await stores?.close();
      });

      test('the v2 client listens on A: acknowledged with what is honoured, then B’s changes, once each, in scope only', async () => {
        const client = new Client({ name: 'listener', version: '1.0.0' }, { versionNegotiation: { mode: { pin: VERSION } } });
        await client.connect(new StreamableHTTPClientTransport(new URL(`${a.url}/servers/alpha/mcp`), { fetch: newConnectionFetch() }));
        const acknowledged = deferred<any>();
        const seen: any[] = [];
        const marker = deferred();
        client.setNotificationHandler('notifications/subscriptions/acknowledged', (n) => acknowledged.resolve(n));
        client.setNotificationHandler('notifications/tools/list_changed', (n) => void seen.push(n));
        client.setNotificationHandler('notifications/resources/updated', (n) => {
          seen.push(n);
          if ((n.params as { uri: string }).uri === 'memo://alpha/readme') marker.resolve();
        });
        const abort = new AbortController();
        const listening = client
          .request(
            {
              method: 'subscriptions/listen',
              params: { notifications: { toolsListChanged: true, resourceSubscriptions: ['memo://alpha/readme', 'memo://beta/secret'] } },
            },
            { signal: abort.signal },
          )
          .catch((error: unknown) => error);
        try {
          const ack = await acknowledged.promise;
          // beta's resource is outside the stream's scope (alpha): not honoured.
          expect(ack.params.notifications).toEqual({ toolsListChanged: true, resourceSubscriptions: ['memo://alpha/readme'] });
          const subscriptionId = ack.params._meta[SUBSCRIPTION_ID_META];
          expect(subscriptionId).toBeDefined();
          catalogB.addTool('beta', noop); // another server: not for this stream
          catalogB.addTool('alpha', noop);
          catalogB.resourceUpdated('beta', 'memo://beta/secret');
          catalogB.resourceUpdated('alpha', 'memo://alpha/readme'); // the marker: sent last
          await marker.promise;
          expect(seen.map((n) => n.method)).toEqual(['notifications/tools/list_changed', 'notifications/resources/updated']);
          for (const n of seen) expect(n.params._meta[SUBSCRIPTION_ID_META]).toBe(subscriptionId);
        } finally {
          abort.abort();
          await listening;
          await client.close();
        }
        await waitFor(() => a.router.worker.streams.inFlight === 0, { what: 'the listen stream to end on A' });
      });

      test('a cancel on another endpoint ends nothing; after the right one, later changes reach no one and nothing breaks', async () => {
        const response = await listen(`${a.url}/servers/alpha/mcp`, 'X1', { toolsListChanged: true });
        const reader = response.body!.getReader();
        const decoder = new TextDecoder();
        let text = decoder.decode((await reader.read()).value);
        const cancel = (server: string) =>
          rpc(
            `${b.url}/servers/${server}/mcp`,
            { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'X1', _meta: meta } },
            headers('notifications/cancelled'),
          );
        expect((await cancel('beta')).status).toBe(202);
        // Still open: the next change arrives.
        catalogB.addTool('alpha', { ...noop, name: 'fresh2' });
        while (!text.includes('tools/list_changed')) text += decoder.decode((await reader.read()).value);
        expect((await cancel('alpha')).status).toBe(202);
        for (;;) if ((await reader.read()).done) break;
        // Changes after the stream ended reach nothing, and the worker keeps serving.
        for (let i = 0; i < 5; i++) catalogB.addTool('alpha', { ...noop, name: `after${i}` });
        const list = await rpc(
          `${a.url}/servers/alpha/mcp`,
          { jsonrpc: '2.0', id: 3, method: 'tools/list', params: { _meta: meta } },
          headers('tools/list'),
        );
        expect(list.status).toBe(200);
      });

      test('notifications/cancelled sent to B ends the stream A holds; a bad listen request is -32602', async () => {
        const response = await listen(`${a.url}/servers/alpha/mcp`, 'L1', { promptsListChanged: true });
        expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
        const reader = response.body!.getReader();
        const first = new TextDecoder().decode((await reader.read()).value);
        expect(first).toContain('notifications/subscriptions/acknowledged');
        const cancelled = await rpc(
          `${b.url}/servers/alpha/mcp`,
          { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'L1', _meta: meta } },
          headers('notifications/cancelled'),
        );
        expect(cancelled.status).toBe(202);
        // The stream ends: nothing more, then done.
        for (;;) if ((await reader.read()).done) break;
        await waitFor(() => a.router.worker.streams.inFlight === 0, { what: 'the listen stream to end on A' });
        const bad = await rpc(
          `${a.url}/servers/alpha/mcp`,
          { jsonrpc: '2.0', id: 2, method: 'subscriptions/listen', params: { notifications: { toolsListChanged: 'yes' }, _meta: meta } },
          headers('subscriptions/listen'),
        );
        expect(JSON.parse(bad.body).error.code).toBe(-32602);
      });
    });
  }
});

describe('listen streams are bounded per worker', () => {
  test('beyond maxOpenStreams: 503 with a JSON-RPC error that says so; a slot frees when a stream ends', async () => {
    const gateway = await startGateway({ catalog: testCatalog(), maxOpenStreams: 1 });
    try {
      const url = `${gateway.url}/servers/alpha/mcp`;
      const open = () => listen(url, 1, {});
      const held = new AbortController();
      const first = await listen(url, 1, {}, { signal: held.signal });
      expect(first.status).toBe(200);
      const refused = await open();
      expect(refused.status).toBe(503);
      const body = (await refused.json()) as { error: { message: string } };
      expect(body.error.message).toMatch(/capacity/);
      held.abort();
      await waitFor(() => gateway.router.worker.streams.inFlight === 0, { what: 'the first stream to end' });
      const again = await open();
      expect(again.status).toBe(200);
      await again.body?.cancel();
    } finally {
      await gateway.close();
    }
  });
});
