/**
 * Upstream sessions: per downstream session over Streamable HTTP (the default), opened by the
 * session's owner on first use and closed (DELETE) when the downstream session ends or moves, the
 * new owner opening its own; one per worker when shared, and one stdio process per worker, never
 * per request or per session. Real SDK upstream and downstream, gateways sharing a MemoryStore.
 */
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { createCatalog, type MemoryCatalog, MemoryStore, newConnectionFetch, upstream } from '../../lib/index';
import { openSession, type RunningGateway, rpc, startGateway } from '../helpers/gateway';
import { startUpstreamServer, type UpstreamServer } from '../helpers/upstream-server';
import { deferred, waitFor } from '../helpers/wait';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const textOf = (result: object) => (result as { content: Array<{ text: string }> }).content[0]!.text;

/** A downstream client whose requests go to whichever gateway `target()` names (new connections). */
async function connect(target: () => RunningGateway, server = 'fed'): Promise<Client> {
  const fetchNew = newConnectionFetch();
  const first = target();
  const client = new Client({ name: 'downstream', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${first.url}/servers/${server}/mcp`), {
      fetch: (input, init) => fetchNew(String(input instanceof Request ? input.url : input).replace(first.url, target().url), init),
    }),
  );
  return client;
}

describe('per-client upstream sessions (the default over Streamable HTTP)', () => {
  let up: UpstreamServer;
  const catalogs: MemoryCatalog[] = [];
  const gateways: RunningGateway[] = [];
  const worker = async (store: MemoryStore, options: Parameters<typeof upstream>[0] = {}, gatewayOptions = {}) => {
    const part = upstream({ url: up.url, prefix: 'up_', ...options }, quiet);
    const catalog = createCatalog({ fed: { ...part } }, { logger: quiet });
    catalogs.push(catalog);
    await part.upstreams[0]!.ready();
    const gateway = await startGateway({ store, catalog, ...gatewayOptions });
    gateways.push(gateway);
    return { gateway, source: part.upstreams[0]! };
  };
  beforeAll(async () => {
    up = await startUpstreamServer(0, { sessionTools: true });
  });
  afterEach(async () => {
    for (const gateway of gateways.splice(0)) await gateway.close();
    for (const catalog of catalogs.splice(0)) await catalog.close();
  });
  afterAll(() => up?.close());

  test('two downstream sessions: two upstream sessions; ending one sends its DELETE upstream', async () => {
    const { gateway, source } = await worker(new MemoryStore());
    const listing = up.opened.at(-1)!; // the worker's shared session, opened to list
    const first = await connect(() => gateway);
    const second = await connect(() => gateway);
    const one = textOf(await first.callTool({ name: 'up_whoami' }));
    const two = textOf(await second.callTool({ name: 'up_whoami' }));
    expect(new Set([one, two, listing]).size).toBe(3);
    expect(up.opened).toEqual(expect.arrayContaining([one, two]));
    // The same downstream session keeps its upstream session.
    expect(textOf(await first.callTool({ name: 'up_whoami' }))).toBe(one);
    expect(source.openSessions).toBe(3);
    await (first.transport as StreamableHTTPClientTransport).terminateSession();
    await waitFor(() => up.deleted.includes(one), { what: 'the DELETE of the first upstream session' });
    expect(up.deleted).not.toContain(two);
    expect(source.openSessions).toBe(2);
    await first.close();
    await second.close();
  });

  test('a drained owner closes its upstream sessions; the adopting worker opens its own on the next call', async () => {
    const store = new MemoryStore();
    const a = await worker(store);
    const b = await worker(store);
    let target = a.gateway;
    const client = await connect(() => target);
    const before = textOf(await client.callTool({ name: 'up_whoami' }));
    expect(a.source.openSessions).toBe(2);
    target = b.gateway;
    await a.gateway.router.drain(1);
    await waitFor(() => up.deleted.includes(before), { what: 'the drained owner to close its upstream session' });
    expect(a.source.openSessions).toBe(1);
    const after = textOf(await client.callTool({ name: 'up_whoami' }));
    expect(after).not.toBe(before);
    expect(b.source.openSessions).toBe(2);
    await client.close();
    await store.close();
  });

  test('a hibernating session closes its upstream session; woken, it opens a new one, subscribed again', async () => {
    const { gateway, source } = await worker(new MemoryStore(), {}, { hibernateAfterMs: 60_000 });
    // Raw requests: an SDK client's open GET stream would keep the session busy, never idle.
    const url = `${gateway.url}/servers/fed/mcp`;
    const sessionId = await openSession(url);
    const headers = { 'mcp-session-id': sessionId };
    const whoami = async (id: number) => {
      const call = await rpc(url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'up_whoami', arguments: {} } }, headers);
      return textOf(call.messages().at(-1).result);
    };
    const before = await whoami(1);
    const subscribe = { jsonrpc: '2.0', id: 2, method: 'resources/subscribe', params: { uri: 'up://counter' } };
    expect((await rpc(url, subscribe, headers)).status).toBe(200);
    expect(up.subscribed.get('up://counter')?.has(before)).toBe(true);
    const owner = gateway.router.worker;
    owner.expireIdleSessions(Date.now() + 61_000);
    expect(owner.sessions.isHibernated(sessionId)).toBe(true);
    await waitFor(() => up.deleted.includes(before), { what: 'the DELETE of the hibernated session’s upstream session' });
    expect(source.openSessions).toBe(1);
    const after = await whoami(3);
    expect(after).not.toBe(before);
    // Its subscription, kept in its record, is made again on the new upstream session.
    expect(up.subscribed.get('up://counter')?.has(after)).toBe(true);
  });

  test("sessions: 'shared': a hibernating session leaves the worker's upstream subscription; woken, it joins again", async () => {
    const { gateway } = await worker(new MemoryStore(), { sessions: 'shared' }, { hibernateAfterMs: 60_000 });
    const listing = up.opened.at(-1)!;
    const url = `${gateway.url}/servers/fed/mcp`;
    const sessionId = await openSession(url);
    const headers = { 'mcp-session-id': sessionId };
    const subscribe = { jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri: 'up://counter' } };
    expect((await rpc(url, subscribe, headers)).status).toBe(200);
    expect(up.subscribed.get('up://counter')?.has(listing)).toBe(true);
    gateway.router.worker.expireIdleSessions(Date.now() + 61_000);
    // Its last subscriber gone from this worker, the shared session unsubscribes.
    await waitFor(() => !up.subscribed.get('up://counter')?.has(listing), { what: 'the upstream unsubscription' });
    expect((await rpc(url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, headers)).status).toBe(200);
    await waitFor(() => up.subscribed.get('up://counter')?.has(listing) === true, { what: 'the subscription made again' });
  });

  test("sessions: 'shared': every downstream session goes through the worker's one upstream session", async () => {
    const { gateway, source } = await worker(new MemoryStore(), { sessions: 'shared' });
    const listing = up.opened.at(-1)!;
    const first = await connect(() => gateway);
    const second = await connect(() => gateway);
    expect(textOf(await first.callTool({ name: 'up_whoami' }))).toBe(listing);
    expect(textOf(await second.callTool({ name: 'up_whoami' }))).toBe(listing);
    expect(source.openSessions).toBe(1);
    // A log message on a call's stream still reaches that call's session, at its level.
    const logs: string[] = [];
    first.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(String(n.params.data)));
    second.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(`second: ${String(n.params.data)}`));
    await first.setLoggingLevel('error');
    await first.callTool({ name: 'up_chatty' });
    await waitFor(() => logs.length > 0, { what: 'the error line' });
    expect(logs).toEqual(['a error line']);
    // One upstream subscription for the worker; its updates reach each session that subscribed.
    const heard = [first, second].map((client) => {
      const updated = deferred<string>();
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updated.resolve(n.params.uri));
      return updated.promise;
    });
    await first.subscribeResource({ uri: 'up://counter' });
    await second.subscribeResource({ uri: 'up://counter' });
    expect([...(up.subscribed.get('up://counter') ?? [])]).toContain(listing);
    await waitFor(() => gateway.router.worker.streams.inFlight >= 2, { what: 'the GET streams' });
    await up.touch('up://counter');
    expect(await Promise.all(heard)).toEqual(['up://counter', 'up://counter']);
    await first.close();
    await second.close();
  });

  test('misconfiguration throws at creation, naming the option', () => {
    expect(() => upstream({ url: 'http://x/mcp', sessions: 'each' as never })).toThrow(/sessions.*'per-client'/);
    expect(() => upstream({ command: 'node', sessions: 'per-client' })).toThrow(/sessions.*stdio upstream is one process/);
  });
});

describe('a stdio upstream', () => {
  test('an answer over maxAnswerBytes is refused once whole (no stream to count), naming the upstream', async () => {
    const part = upstream({
      command: process.execPath,
      args: [path.resolve(__dirname, '../fixtures/stdio-upstream.mjs')],
      prefix: 'io_',
      name: 'io',
      maxAnswerBytes: 5,
    });
    const catalog = createCatalog({ local: { ...part } });
    await part.upstreams[0]!.ready();
    const gateway = await startGateway({ catalog });
    try {
      const client = await connect(() => gateway, 'local');
      await expect(client.callTool({ name: 'io_pid' })).rejects.toThrow(
        /Upstream io: tools\/call pid: an answer of \d+ bytes, over maxAnswerBytes \(5\)$/,
      );
      await client.close();
    } finally {
      await gateway.close();
      await catalog.close();
    }
  });

  test('one process per worker, whatever the number of sessions and calls', async () => {
    const store = new MemoryStore();
    const catalogs: MemoryCatalog[] = [];
    const gateways: RunningGateway[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const part = upstream({
          command: process.execPath,
          args: [path.resolve(__dirname, '../fixtures/stdio-upstream.mjs')],
          prefix: 'io_',
        });
        const catalog = createCatalog({ local: { ...part } });
        catalogs.push(catalog);
        await part.upstreams[0]!.ready();
        gateways.push(await startGateway({ store, catalog }));
      }
      const pids = new Set<string>();
      for (const gateway of gateways) {
        for (let session = 0; session < 3; session++) {
          const client = await connect(() => gateway, 'local');
          pids.add(textOf(await client.callTool({ name: 'io_pid' })));
          pids.add(textOf(await client.callTool({ name: 'io_pid' })));
          await client.close();
        }
      }
      // Two workers, six sessions, twelve calls: two processes.
      expect(pids.size).toBe(2);
    } finally {
      for (const gateway of gateways) await gateway.close();
      for (const catalog of catalogs) await catalog.close();
      await store.close();
    }
  });
});
