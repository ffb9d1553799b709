/**
 * A GET stream cut by its owner's end resumes on the new owner: two gateways on one store and one
 * `RedisEventStore` (each its own client, as two hosts would). A session's GET stream on A gets a
 * notification; the client loses the stream; A sends another (stored, undelivered) and hands its
 * sessions off; the client reconnects with `Last-Event-ID` through B, which adopts the session and
 * replays what was missed. Another session's event id replays nothing of it.
 */
import http from 'node:http';
import { createCatalog, type MemoryCatalog, MemoryStore, RedisEventStore } from '../../lib/index';
import { openSession, type RunningGateway, rpc, startGateway } from '../helpers/gateway';
import { startRedis, type TestRedis, uniquePrefix } from '../helpers/redis';
import { deferred } from '../helpers/wait';

const catalog = () =>
  createCatalog({
    alpha: {
      resources: [{ uri: 'memo://alpha/doc', name: 'doc', read: () => ({ contents: [{ uri: 'memo://alpha/doc', text: 'd' }] }) }],
    },
  });

/** Opens a GET stream; resolves the response once it started, with every chunk collected. */
function getStream(url: string, session: string, lastEventId?: string) {
  const chunks: string[] = [];
  const started = deferred<http.IncomingMessage>();
  const req = http.request(url, {
    method: 'GET',
    agent: false,
    headers: {
      accept: 'text/event-stream',
      'mcp-session-id': session,
      'mcp-protocol-version': '2025-06-18',
      ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
    },
  });
  const waiters: Array<() => void> = [];
  req.on('response', (res) => {
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      chunks.push(c);
      for (const w of waiters.splice(0)) w();
    });
    res.on('error', () => undefined);
    started.resolve(res);
  });
  req.on('error', () => undefined);
  req.end();
  const text = () => chunks.join('');
  return {
    started: started.promise,
    text,
    /** Resolves once the stream's text matches. */
    until: (pattern: RegExp) =>
      new Promise<RegExpMatchArray>((resolve) => {
        const check = () => {
          const m = pattern.exec(text());
          if (m) resolve(m);
          else waiters.push(check);
        };
        check();
      }),
    close: () => req.destroy(),
  };
}

describe('GET stream resumed on the new owner', () => {
  let redis: TestRedis | undefined;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  test('missed notifications are replayed by the adopter; another session’s event id replays nothing', async () => {
    const prefix = uniquePrefix('resume');
    const clients = [redis!.client(), redis!.client()];
    const store = new MemoryStore();
    const catalogA: MemoryCatalog = catalog();
    const a = await startGateway({ store, catalog: catalogA, eventStore: new RedisEventStore({ client: clients[0]!, prefix }) });
    const b: RunningGateway = await startGateway({
      store,
      catalog: catalog(),
      eventStore: new RedisEventStore({ client: clients[1]!, prefix }),
    });
    try {
      const url = `${a.url}/servers/alpha/mcp`;
      const session = await openSession(url);
      const other = await openSession(url);
      for (const s of [session, other]) {
        expect(
          (
            await rpc(
              url,
              { jsonrpc: '2.0', id: 2, method: 'resources/subscribe', params: { uri: 'memo://alpha/doc' } },
              { 'mcp-session-id': s },
            )
          ).status,
        ).toBe(200);
      }
      const first = getStream(url, session);
      const otherStream = getStream(url, other);
      expect((await first.started).statusCode).toBe(200);
      await otherStream.started;
      catalogA.resourceUpdated('alpha', 'memo://alpha/doc');
      const [, firstId] = await first.until(/id: ?(\S+)\ndata: [^\n]*resources\/updated/);
      const [, otherId] = await otherStream.until(/id: ?(\S+)\ndata: [^\n]*resources\/updated/);
      // The client loses its stream; the owner goes on, then hands its sessions off.
      first.close();
      catalogA.resourceUpdated('alpha', 'memo://alpha/doc'); // stored for the session, undelivered
      // The other session, opened later, hears it after this one's event was stored (one Redis
      // connection, replies in order): the marker that the missed event is in the store.
      await otherStream.until(/resources\/updated[\s\S]*resources\/updated/);
      otherStream.close();
      await a.close();
      // Through B, which adopts the session and replays from the shared event store.
      const resumed = getStream(`${b.url}/servers/alpha/mcp`, session, firstId);
      expect((await resumed.started).statusCode).toBe(200);
      await resumed.until(/resources\/updated/);
      expect(b.router.worker.sessions.has(session)).toBe(true);
      resumed.close();
      // The other session's event id, presented by this session: nothing of it is replayed.
      const foreign = getStream(`${b.url}/servers/alpha/mcp`, session, otherId);
      expect((await foreign.started).statusCode).toBe(400);
      foreign.close();
    } finally {
      await b.close();
      await a.close();
      for (const c of clients) await c.quit();
    }
  });
});
