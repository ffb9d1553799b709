/**
 * What the hop proves, on two real gateways: a proxy between workers that rewrites a header the
 * owner acts on is refused, and `Connection: <header>` tokens give the same answer locally and
 * forwarded. Then the rate-limit recipe (express-rate-limit, keyed by principal, `skip:
 * isInternalHop`) counts each client request exactly once through forwards.
 */
import net from 'node:net';
import { MemoryStore as RateLimitMemoryStore, rateLimit } from 'express-rate-limit';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { isInternalHop, jwtVerifier, MemoryStore, principalOf, type SessionStore, toolCallOf } from '../../lib/index';
import { initializeBody, openSession, type RunningGateway, rawRequest, rpc, startGateway, testCatalog } from '../helpers/gateway';
import { listenFree } from '../helpers/ports';

const ACCEPT_SENT = 'accept: application/json, text/event-stream\r\n';

/** A TCP relay to `target` that rewrites the hop's Accept header on the way. */
async function rewritingRelay(target: { host: string; port: number }): Promise<{ port: number; rewrites: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const relay = {
    port: 0,
    rewrites: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => {
      const text = chunk.toString('latin1');
      if (text.includes(ACCEPT_SENT)) relay.rewrites++;
      upstream.write(Buffer.from(text.replace(ACCEPT_SENT, 'accept: application/json\r\n'), 'latin1'));
    });
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  relay.port = await listenFree(server);
  return relay;
}

describe('hop integrity', () => {
  const calls: string[] = [];
  let store: MemoryStore;
  let a: RunningGateway;
  let b: RunningGateway;
  beforeAll(async () => {
    store = new MemoryStore();
    a = await startGateway({ store, catalog: testCatalog(calls) });
    b = await startGateway({ store, catalog: testCatalog(calls) });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  test('a proxy between workers that rewrites Accept is refused (403), and the tool never runs', async () => {
    const internal = new URL(a.router.worker.workerRecord!.internalUrl);
    const relay = await rewritingRelay({ host: internal.hostname, port: Number(internal.port) });
    // C reaches A only through the relay.
    const viaRelay: SessionStore = Object.create(store, {
      getWorker: {
        value: (id: string) =>
          id === a.workerId ? { workerId: a.workerId, internalUrl: `http://127.0.0.1:${relay.port}` } : store.getWorker(id),
      },
    });
    const c = await startGateway({ store: viaRelay, catalog: testCatalog(calls) });
    try {
      const session = await openSession(`${a.url}/servers/alpha/mcp`);
      const before = calls.length;
      const body = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } };
      const response = await rpc(`${c.url}/servers/alpha/mcp`, body, { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' });
      expect(relay.rewrites).toBe(1);
      expect(response.status).toBe(403);
      expect(JSON.parse(response.body).error.data.code).toBe('ERR_MCP_AFFINITY_HOP_REFUSED');
      expect(calls.length).toBe(before);
      // Without the rewrite the same request through B is served.
      expect((await rpc(`${b.url}/servers/alpha/mcp`, { ...body, id: 3 }, { 'mcp-session-id': session })).status).toBe(200);
    } finally {
      await c.close();
      await relay.close();
    }
  });

  test.each(['mcp-session-id', 'content-type', 'accept', 'mcp-protocol-version'])(
    'Connection: %s gives the same answer locally and forwarded',
    async (token) => {
      const session = await openSession(`${a.url}/servers/alpha/mcp`);
      const send = (gateway: RunningGateway) =>
        rawRequest(`${gateway.url}/servers/alpha/mcp`, {
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-session-id': session,
            'mcp-protocol-version': '2025-06-18',
            connection: token,
          },
          body: JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/list' }),
        });
      const local = await send(a);
      const forwarded = await send(b);
      expect(forwarded.headers['mcp-affinity-forwarded']).toBe('true');
      expect(local.status).toBe(200);
      expect(forwarded.status).toBe(local.status);
    },
  );
});

describe('rate limits that count once (the README recipe)', () => {
  test('N calls forwarded between two workers: the counter of the principal reads exactly N (plus the session’s own two)', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' }] };
    const token = await new SignJWT({ scope: 'mcp' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k' })
      .setIssuer('https://issuer.test')
      .setAudience('https://gw.test')
      .setSubject('carol')
      .setExpirationTime('10m')
      .sign(privateKey);
    const auth = {
      verifier: jwtVerifier({ jwks, issuer: 'https://issuer.test', audience: 'https://gw.test' }),
      publicUrl: 'https://gw.test',
      authorizationServers: ['https://issuer.test'],
    };
    // One counter store for both workers, as rate-limit-redis is for many hosts.
    const counted = new RateLimitMemoryStore();
    const doubled = new RateLimitMemoryStore();
    const key = (req: object) => principalOf((req as { auth?: never }).auth) ?? 'anonymous';
    const store = new MemoryStore();
    const gateways = await Promise.all(
      [0, 1].map(() =>
        startGateway({ store, catalog: testCatalog(), auth }, (app, router) => {
          app.use(router.authenticate);
          app.use(rateLimit({ windowMs: 60_000, limit: 10_000, store: counted, keyGenerator: key, skip: isInternalHop, validate: false }));
          // What the recipe avoids: the same limiter without `skip` counts each forward twice.
          app.use(rateLimit({ windowMs: 60_000, limit: 10_000, store: doubled, keyGenerator: key, validate: false }));
          app.use(router);
        }),
      ),
    );
    const [a, b] = gateways as [RunningGateway, RunningGateway];
    try {
      const init = await rpc(`${a.url}/servers/beta/mcp`, initializeBody(), { authorization: `Bearer ${token}` });
      const session = String(init.headers['mcp-session-id']);
      const headers = { authorization: `Bearer ${token}`, 'mcp-session-id': session };
      await rpc(`${a.url}/servers/beta/mcp`, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
      const N = 12;
      for (let i = 0; i < N; i++) {
        const answer = await rpc(
          `${b.url}/servers/beta/mcp`,
          { jsonrpc: '2.0', id: 10 + i, method: 'tools/call', params: { name: 'reverse', arguments: { text: 'ab' } } },
          headers,
        );
        expect(answer.headers['mcp-affinity-forwarded']).toBe('true');
      }
      const principal = 'https://issuer.test carol';
      expect((await counted.get(principal))?.totalHits).toBe(N + 2);
      // Without `skip`, each forward is counted again on the owner (where the hop's principal is
      // not known yet when the limiter runs): 2N + 2 hits for N + 2 requests.
      expect((await doubled.get(principal))?.totalHits).toBe(N + 2);
      expect((await doubled.get('anonymous'))?.totalHits).toBe(N);
    } finally {
      await Promise.all(gateways.map((g) => g.close()));
      counted.shutdown();
      doubled.shutdown();
    }
  });
});

describe('a per-tool rate limit (the README recipe)', () => {
  test('2 calls of `reverse` per window, counted on the receiving worker, in both eras; other tools and requests are not counted', async () => {
    const store = new MemoryStore();
    const counted = new RateLimitMemoryStore();
    const gateways = await Promise.all(
      [0, 1].map(() =>
        startGateway({ store, catalog: testCatalog() }, (app, router) => {
          app.use(
            rateLimit({
              windowMs: 60_000,
              limit: 2,
              store: counted,
              validate: false,
              // Only tool calls, each on the worker that received it.
              skip: async (req) => isInternalHop(req) || (await toolCallOf(req)) !== 'reverse',
              keyGenerator: async (req) => `tool:${await toolCallOf(req)}`,
              handler: (_req, res) =>
                res.status(429).json({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Too many calls of this tool' } }),
            }),
          );
          app.use(router);
        }),
      ),
    );
    const [a, b] = gateways as [RunningGateway, RunningGateway];
    try {
      const session = await openSession(`${a.url}/servers/beta/mcp`);
      const callOf = (id: number, name: string) => ({
        jsonrpc: '2.0',
        id,
        method: 'tools/call',
        params: { name, arguments: { text: 'ab' } },
      });
      const viaB = (id: number, name: string) => rpc(`${b.url}/servers/beta/mcp`, callOf(id, name), { 'mcp-session-id': session });
      expect((await viaB(1, 'reverse')).status).toBe(200);
      expect((await viaB(2, 'whoami')).status).toBe(200);
      expect((await viaB(3, 'reverse')).status).toBe(200);
      const limited = await viaB(4, 'reverse');
      expect(limited.status).toBe(429);
      expect(JSON.parse(limited.body).error.message).toBe('Too many calls of this tool');
      expect((await viaB(5, 'whoami')).status).toBe(200);
      expect((await counted.get('tool:reverse'))?.totalHits).toBe(3);
      expect(await counted.get('tool:whoami')).toBeUndefined();
      // 2026-07-28: the tool is in Mcp-Name.
      const meta = {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' },
        'io.modelcontextprotocol/clientCapabilities': {},
      };
      const sessionless = await rpc(
        `${a.url}/servers/beta/mcp`,
        { jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'reverse', arguments: { text: 'ab' }, _meta: meta } },
        { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'reverse' },
      );
      expect(sessionless.status).toBe(429);
      expect((await counted.get('tool:reverse'))?.totalHits).toBe(4);
    } finally {
      await Promise.all(gateways.map((g) => g.close()));
      counted.shutdown();
    }
  });
});
