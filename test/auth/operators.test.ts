/**
 * What an operator manages at run time, on real gateways: hop secrets rotated without a restart
 * (the documented three-step rollout, forwards working at every step), an absolute session
 * lifetime, a session revoked by id from any worker (MemoryStore, and RedisStore across "hosts"),
 * and the sessions of a principal listed for an admin endpoint.
 */

import { signHop } from '../../lib/hop/hop-signature';
import { MemoryStore, principalOf, SIGNATURE_HEADER } from '../../lib/index';
import { initializeBody, openSession, type RunningGateway, rawRequest, rpc, SECRET, startGateway, testCatalog } from '../helpers/gateway';
import { startRedis, storeFactory, type TestRedis, uniquePrefix } from '../helpers/redis';
import { ISSUER, keys } from '../helpers/tokens';
import { deferred, fakeClockOnly } from '../helpers/wait';

const OLD = SECRET;
const NEW = 'the-new-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const list = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/list' });
const status = async (gateway: RunningGateway, sessionId: string, headers: Record<string, string> = {}) =>
  (await rpc(`${gateway.url}/servers/alpha/mcp`, list(2), { 'mcp-session-id': sessionId, ...headers })).status;

describe('secret rotation without a restart', () => {
  test('[old, new] → [new, old] → [new] on every worker in turn: forwards both ways work at every step; old is refused at the end', async () => {
    const store = new MemoryStore();
    const a = await startGateway({ store, catalog: testCatalog(), secret: OLD });
    const b = await startGateway({ store, catalog: testCatalog(), secret: OLD });
    try {
      const onA = await openSession(`${a.url}/servers/alpha/mcp`);
      const onB = await openSession(`${b.url}/servers/alpha/mcp`);
      const bothWays = async () => {
        expect(await status(b, onA)).toBe(200); // B signs, A verifies
        expect(await status(a, onB)).toBe(200); // A signs, B verifies
      };
      for (const step of [[OLD, NEW], [NEW, OLD], [NEW]]) {
        a.router.worker.rotateSecrets(step);
        await bothWays(); // A is one step ahead of B
        b.router.worker.rotateSecrets(step);
        await bothWays();
      }
      expect(a.router.worker.secrets).toEqual([NEW]);
      // A hop signed with the retired secret is refused now.
      const body = JSON.stringify(list(3));
      const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': onA };
      const signature = signHop(OLD, {
        method: 'POST',
        url: '/servers/alpha/mcp',
        sessionId: onA,
        targetWorkerId: a.workerId,
        sourceWorkerId: b.workerId,
        body: Buffer.from(body),
        headers,
      });
      const internal = a.router.worker.workerRecord!.internalUrl;
      const refused = await rawRequest(`${internal}/servers/alpha/mcp`, {
        headers: { ...headers, 'x-forwarded-internally': 'true', [SIGNATURE_HEADER]: signature },
        body,
      });
      expect(refused.status).toBe(403);
      expect(() => a.router.worker.rotateSecrets('short')).toThrow(/secret.*at least 32 characters/);
      expect(a.router.worker.secrets).toEqual([NEW]);
    } finally {
      await b.close();
      await a.close();
    }
  });
});

describe('absolute session lifetime', () => {
  afterEach(() => jest.useRealTimers());

  test('sessionMaxAgeMs: a busy session past its age gets 404 on its next request, and its record is gone', async () => {
    const store = new MemoryStore();
    const a = await startGateway({ store, catalog: testCatalog(), sessionMaxAgeMs: 60_000 });
    try {
      const id = await openSession(`${a.url}/servers/alpha/mcp`);
      expect(await status(a, id)).toBe(200);
      // Only the clock moves: the servers and sockets keep their real timers.
      fakeClockOnly(Date.now() + 60_001);
      expect(await status(a, id)).toBe(404);
      expect(await store.getSession(id)).toBeUndefined();
      // A new session is fine.
      expect((await rpc(`${a.url}/servers/alpha/mcp`, initializeBody())).status).toBe(200);
    } finally {
      jest.useRealTimers();
      await a.close();
    }
  });

  test('sessionMaxAgeMs is checked at creation', async () => {
    await expect(startGateway({ catalog: testCatalog(), sessionMaxAgeMs: -5 })).rejects.toThrow(/sessionMaxAgeMs/);
  });
});

describe('revoking a session by id, and listing a principal’s sessions', () => {
  let redis: TestRedis | undefined;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  for (const kind of ['MemoryStore', 'RedisStore'] as const) {
    test(`${kind}: revoked from another worker, the session is 404 everywhere, and the owner dropped it`, async () => {
      const prefix = uniquePrefix('revoke');
      const stores = storeFactory(kind, redis, prefix);
      const storeFor = () => stores.store();
      const a = await startGateway({ store: storeFor(), catalog: testCatalog() });
      const b = await startGateway({ store: storeFor(), catalog: testCatalog() });
      try {
        const id = await openSession(`${a.url}/servers/alpha/mcp`);
        expect(await status(b, id)).toBe(200);
        // The owner hears of it through the store's events.
        const heard = deferred();
        const stop = a.router.worker.store.subscribe!(
          (event) => event.type === 'session-revoked' && event.sessionId === id && heard.resolve(),
        );
        expect(await b.router.worker.revokeSession(id)).toBe(true);
        await heard.promise;
        stop();
        expect(a.router.worker.sessions.has(id)).toBe(false);
        expect(await status(a, id)).toBe(404);
        expect(await status(b, id)).toBe(404);
        expect(await b.router.worker.revokeSession(id)).toBe(false);
      } finally {
        await b.close();
        await a.close();
        await stores.close();
      }
    });

    test(`${kind}: the sessions of a principal, gateway-wide`, async () => {
      const k = await keys();
      const prefix = uniquePrefix('list');
      const stores = storeFactory(kind, redis, prefix);
      const storeFor = () => stores.store();
      const a = await startGateway({ store: storeFor(), catalog: testCatalog(), auth: k.auth() });
      const b = await startGateway({ store: storeFor(), catalog: testCatalog(), auth: k.auth() });
      try {
        const open = async (gateway: RunningGateway, sub: string) => {
          const init = await rpc(`${gateway.url}/servers/alpha/mcp`, initializeBody(), { authorization: `Bearer ${await k.mint(sub)}` });
          return String(init.headers['mcp-session-id']);
        };
        const alice = [await open(a, 'alice'), await open(b, 'alice')];
        await open(a, 'bob');
        const principal = principalOf({ token: '', clientId: 'alice', scopes: [], extra: { iss: ISSUER, sub: 'alice' } })!;
        for (const gateway of [a, b]) {
          const listed = await gateway.router.worker.listSessions({ principal });
          expect(listed.map((r) => r.sessionId).sort()).toEqual([...alice].sort());
          expect(listed.every((r) => r.snapshot?.principal === principal)).toBe(true);
        }
      } finally {
        await b.close();
        await a.close();
        await stores.close();
      }
    });
  }
});
