/**
 * Chaos, bounded in time: three gateway processes acting as hosts (127.0.0.2-4) on one real Redis.
 * Each scenario records what the clients saw and checks that nothing was mis-scoped.
 *
 * - the owner of a session is killed while it streams a tool call's progress;
 * - Redis is killed and restarted while traffic flows;
 * - a host is isolated (SIGSTOP) and returns (SIGCONT);
 * - a captured hop is replayed.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { ACCEPT, initializeBody, type RawResponse, rawRequest, rpc } from '../helpers/gateway';
import { type Host, open, startHost } from '../helpers/hosts';
import { startRedis, type TestRedis, uniquePrefix } from '../helpers/redis';
import { waitFor } from '../helpers/wait';

// Stopping Redis needs a server this test started: with an external REDIS_URL the test is declared skipped.
const testWithOwnRedis = process.env.REDIS_URL ? test.skip : test;

const TOOLS: Record<string, string[]> = { alpha: ['add', 'echo'], beta: ['reverse', 'whoami'], gamma: ['slow'] };

/** Tallies what clients saw, and fails on anything mis-scoped. */
class Observed {
  readonly counts = new Map<string, number>();
  misScoped = 0;
  see(server: string, response: RawResponse): void {
    const key = `${response.status}${response.status >= 400 ? ` ${safeCode(response)}` : ''}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (response.status !== 200) return;
    for (const m of response.messages())
      for (const tool of m?.result?.tools ?? []) if (!TOOLS[server]!.includes(tool.name)) this.misScoped++;
  }
  summary(): string {
    return JSON.stringify(Object.fromEntries([...this.counts].sort()));
  }
}

function safeCode(response: RawResponse): string {
  try {
    return String(JSON.parse(response.body).error.data.code).replace('ERR_MCP_AFFINITY_', '');
  } catch {
    return 'non-json';
  }
}

describe('chaos', () => {
  let redis: TestRedis;
  let hosts: Host[] = [];
  const env: Record<string, string> = {};

  beforeAll(async () => {
    redis = await startRedis();
    Object.assign(env, {
      REDIS_URL: redis.url,
      PREFIX: uniquePrefix('chaos'),
      SECRET: randomBytes(32).toString('base64url'),
      HEARTBEAT_MS: '200',
      FORWARD_TIMEOUT_MS: '1000',
      // These cases are about sessions that end with their owner; continuity has its own tests.
      CONTINUITY: '0',
    });
  });
  beforeEach(async () => {
    hosts = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((h) => startHost(h, env)));
  });
  afterEach(async () => {
    for (const host of hosts) if (host.process.signalCode === null) host.process.kill('SIGCONT');
    await Promise.all(hosts.map((h) => h.stop()));
  });
  afterAll(async () => {
    await redis?.stop();
  });

  test('the owner is killed mid-stream: the client gets a clean error, then 404, then a new session works', async () => {
    const [owner, receiver] = hosts as [Host, Host];
    const session = await open(owner, 'gamma');
    const events: string[] = [];
    const done = new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${receiver.url}/servers/gamma/mcp`,
        {
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
        },
        (res) => {
          res.setEncoding('utf8');
          let buffer = '';
          res.on('data', (chunk: string) => {
            buffer += chunk;
            for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
              const data = buffer
                .slice(0, end)
                .split('\n')
                .find((l) => l.startsWith('data:'));
              buffer = buffer.slice(end + 2);
              if (data) events.push(data.slice(5).trim());
              if (events.length === 2) owner.process.kill('SIGKILL'); // mid-stream
            }
          });
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: 41,
          method: 'tools/call',
          params: { name: 'slow', arguments: { ticks: 3 }, _meta: { progressToken: 't' } },
        }),
      );
    });
    expect(await done).toBe(200);
    const last = JSON.parse(events.at(-1)!);
    expect(last).toMatchObject({ id: 41, error: { code: -32001 } });
    const next = await rpc(`${receiver.url}/servers/gamma/mcp`, { jsonrpc: '2.0', id: 42, method: 'ping' }, { 'mcp-session-id': session });
    expect(next.status).toBe(404);
    const fresh = await open(receiver, 'gamma');
    expect(
      (await rpc(`${hosts[2]!.url}/servers/gamma/mcp`, { jsonrpc: '2.0', id: 43, method: 'tools/list' }, { 'mcp-session-id': fresh }))
        .status,
    ).toBe(200);
    console.log(
      `owner killed mid-stream: ${events.length - 1} progress events, then ${JSON.stringify(last.error)}; next request ${next.status}; re-initialized`,
    );
  });

  testWithOwnRedis(
    'Redis killed and restarted during traffic: only 503s with Retry-After while it is away, nothing mis-scoped, full recovery',
    async () => {
      const sessions = await Promise.all([
        open(hosts[0]!, 'alpha').then((id) => ({ id, server: 'alpha' })),
        open(hosts[1]!, 'beta').then((id) => ({ id, server: 'beta' })),
        open(hosts[2]!, 'alpha').then((id) => ({ id, server: 'alpha' })),
      ]);
      const observed = new Observed();
      let stop = false;
      let retryAfterMissing = 0;
      type Phase = 'before' | 'away' | 'back';
      const now: { phase: Phase } = { phase: 'before' };
      /** Per phase, the hosts that answered an initialize (which needs Redis) and how. */
      const initialized = { before: new Set<string>(), away: new Set<string>(), back: new Set<string>() };
      const traffic = (async () => {
        for (let i = 0; !stop; i++) {
          const { id, server } = sessions[i % sessions.length]!;
          const host = hosts[(i * 7) % hosts.length]!;
          const response = await rpc(
            `${host.url}/servers/${server}/mcp`,
            { jsonrpc: '2.0', id: i, method: 'tools/list' },
            { 'mcp-session-id': id },
          );
          observed.see(server, response);
          if (response.status === 503 && response.headers['retry-after'] === undefined) retryAfterMissing++;
          // A new session now and then: needs Redis.
          if (i % 10 === 0) {
            const during = now.phase;
            const init = await rpc(`${host.url}/servers/${server}/mcp`, initializeBody());
            observed.see(server, init);
            if (during === now.phase && (during === 'away' ? init.status === 503 : init.status === 200)) initialized[during].add(host.url);
          }
        }
      })();
      // Each phase lasts until the traffic saw it on every host: sessions created; refused while
      // Redis is away; created again once it is back (every host's client reconnected).
      const everyHost = (set: Set<string>) => () => set.size === hosts.length;
      await waitFor(everyHost(initialized.before), { timeoutMs: 10_000, what: 'traffic flowing on every host' });
      await redis.stop();
      now.phase = 'away';
      await waitFor(everyHost(initialized.away), { timeoutMs: 10_000, what: 'every host refusing new sessions without Redis' });
      await redis.restart();
      now.phase = 'back';
      await waitFor(everyHost(initialized.back), { timeoutMs: 10_000, what: 'every host creating sessions again' });
      // The workers re-register on their heartbeat (the restarted Redis is empty): traffic goes on
      // until every host serves every session again, which the store announces to nobody.
      const served = async () => {
        for (const { id, server } of sessions)
          for (const host of hosts) {
            const { status } = await rpc(
              `${host.url}/servers/${server}/mcp`,
              { jsonrpc: '2.0', id: 1, method: 'ping' },
              { 'mcp-session-id': id },
            );
            if (status !== 200) return false;
          }
        return true;
      };
      await waitFor(served, { timeoutMs: 10_000, intervalMs: 50, what: 'every host serving every session again' });
      stop = true;
      await traffic;

      console.log(`Redis killed and restarted: ${observed.summary()}`);
      expect(observed.misScoped).toBe(0);
      expect(retryAfterMissing).toBe(0);
      for (const key of observed.counts.keys()) expect(key).toMatch(/^(200|503 STORE_UNAVAILABLE)$/);
      // Everything recovered without restarting any gateway.
      for (const { id, server } of sessions) {
        for (const host of hosts) {
          const response = await rpc(
            `${host.url}/servers/${server}/mcp`,
            { jsonrpc: '2.0', id: 1, method: 'tools/list' },
            { 'mcp-session-id': id },
          );
          expect(response.status).toBe(200);
        }
      }
      expect((await rpc(`${hosts[0]!.url}/servers/beta/mcp`, initializeBody())).status).toBe(200);
    },
    20_000,
  );

  test('a host isolated and returning: its sessions fail fast and never hang, others are unaffected, and it rejoins', async () => {
    const [a, b, isolated] = hosts as [Host, Host, Host];
    const onIsolated = await open(isolated, 'beta');
    const onA = await open(a, 'alpha');
    expect(
      (await rpc(`${b.url}/servers/beta/mcp`, { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': onIsolated })).status,
    ).toBe(200);

    isolated.process.kill('SIGSTOP');
    const seen = new Observed();
    const until = Date.now() + 2500;
    let slowest = 0;
    while (Date.now() < until) {
      const started = Date.now();
      seen.see(
        'beta',
        await rpc(`${b.url}/servers/beta/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-session-id': onIsolated }),
      );
      slowest = Math.max(slowest, Date.now() - started);
      const other = await rpc(`${b.url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'mcp-session-id': onA });
      expect(other.status).toBe(200);
      seen.see('alpha', other);
    }
    // Bounded by the forward timeout (1 s here), then 404 once its heartbeat expired.
    // The slowest answer is printed, not asserted: time is judged in bench/; every request got an answer.
    expect(seen.counts.get('404 SESSION_NOT_FOUND') ?? 0).toBeGreaterThan(0);
    for (const key of seen.counts.keys()) expect(key).toMatch(/^(200|404 SESSION_NOT_FOUND|503 FORWARD_FAILED|504 FORWARD_TIMEOUT)$/);

    isolated.process.kill('SIGCONT');
    // It heartbeats again, and its session (still alive in its memory) is reachable again.
    // Nothing announces it to the test: poll.
    const back = await waitFor(
      async () => {
        const { status } = await rpc(
          `${b.url}/servers/beta/mcp`,
          { jsonrpc: '2.0', id: 4, method: 'tools/list' },
          { 'mcp-session-id': onIsolated },
        );
        return status === 200 ? status : undefined;
      },
      { timeoutMs: 5000, intervalMs: 100, what: 'the isolated host serving its session again' },
    );
    expect(back).toBe(200);
    expect(seen.misScoped).toBe(0);
    console.log(`host isolated for 2.5 s: ${seen.summary()}, slowest answer ${slowest} ms; back after SIGCONT`);
  });

  test('a captured hop replayed, redirected or altered is refused', async () => {
    const [owner, forwarder, third] = hosts as [Host, Host, Host];
    const session = await open(owner, 'alpha');
    const real = await rpc(
      `${forwarder.url}/servers/alpha/mcp`,
      { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'add', arguments: { a: 1, b: 2 } } },
      { 'mcp-session-id': session },
    );
    expect(real.status).toBe(200);
    const hop = (await (await fetch(`${owner.url}/debug/last-hop`)).json()) as {
      method: string;
      url: string;
      headers: Record<string, string>;
      body: string;
    };
    expect(hop.headers['x-mcp-affinity-signature']).toMatch(new RegExp(`to=${owner.workerId},from=${forwarder.workerId}`));

    const headers = Object.fromEntries(Object.entries(hop.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k)));
    const replay = (base: string, body: string = hop.body): Promise<RawResponse> =>
      rawRequest(`${base}${hop.url}`, { method: hop.method, headers, body });
    const outcomes = {
      replayed: await replay(owner.internalUrl),
      replayedOnPublicPort: await replay(owner.url),
      redirected: await replay(third.internalUrl),
      altered: await replay(owner.internalUrl, hop.body.replace('"a":1', '"a":100')),
    };
    for (const response of Object.values(outcomes)) {
      expect(response.status).toBe(403);
      expect(JSON.parse(response.body).error.data.code).toBe('ERR_MCP_AFFINITY_HOP_REFUSED');
    }
    console.log(
      `replayed hop: ${Object.entries(outcomes)
        .map(([k, r]) => `${k} ${r.status}`)
        .join(', ')}`,
    );
  });
});
