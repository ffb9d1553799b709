/**
 * Session continuity, in-process, workers sharing a MemoryStore: a session outlives its owner (a
 * crash, a drain), is adopted by exactly one worker, hibernates when idle and wakes with its
 * state. Driven by the real SDK client over a new connection per request; the client never
 * re-initializes.
 */
import type http from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { createCatalog, type MemoryCatalog, MemoryStore, newConnectionFetch } from '../../lib/index';
import { openSession, type RunningGateway, rpc, startGateway } from '../helpers/gateway';

const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });

/** alpha: `where` names the executing worker, `logs` logs at info and error, `ask` elicits; beta: `beta_only`. */
function catalog(calls: string[]): MemoryCatalog {
  return createCatalog({
    alpha: {
      tools: [
        {
          name: 'where',
          inputSchema: { type: 'object' },
          handler: (_args, ctx) => (calls.push(ctx.workerId), text(ctx.workerId)),
        },
        {
          name: 'logs',
          inputSchema: { type: 'object' },
          handler: async (_args, ctx) => {
            await ctx.log('info', 'an info line');
            await ctx.log('error', 'an error line');
            return text('logged');
          },
        },
        {
          name: 'ask',
          inputSchema: { type: 'object' },
          handler: async (_args, ctx) => {
            const answer = await ctx.elicitInput({
              message: 'name?',
              requestedSchema: { type: 'object', properties: { name: { type: 'string' } } },
            });
            return text(String(answer.content?.name));
          },
        },
      ],
      resources: [{ uri: 'memo://alpha/a', name: 'a', read: () => ({ contents: [{ uri: 'memo://alpha/a', text: 'a' }] }) }],
    },
    beta: { tools: [{ name: 'beta_only', inputSchema: { type: 'object' }, handler: () => text('beta') }] },
  });
}

/** A crash, as far as peers can tell: nobody listens at its addresses, and it never deregisters. */
async function crash(gateway: RunningGateway): Promise<void> {
  const internal = (gateway.router.worker as unknown as { internal: { server: http.Server } }).internal.server;
  for (const server of [internal, gateway.publicServer]) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('session continuity', () => {
  let store: MemoryStore;
  let calls: string[];
  const running: RunningGateway[] = [];
  const start = async (options: Record<string, unknown> = {}) => {
    const gateway = await startGateway({ store, catalog: catalog(calls), ...options });
    running.push(gateway);
    return gateway;
  };
  beforeEach(() => {
    store = new MemoryStore();
    calls = [];
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((g) => g.close().catch(() => undefined)));
    await store.close();
  });

  /** An SDK client on alpha whose requests go, over new connections, to whichever gateway `target()` names. */
  async function connect(
    target: () => RunningGateway,
    logs: string[] = [],
  ): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
    const fetchNew = newConnectionFetch();
    const first = target();
    const transport = new StreamableHTTPClientTransport(new URL(`${first.url}/servers/alpha/mcp`), {
      fetch: (input, init) => fetchNew(String(input instanceof Request ? input.url : input).replace(first.url, target().url), init),
    });
    const client = new Client({ name: 'continuity', version: '1.0.0' }, { capabilities: { elicitation: {} } });
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(String(n.params.data)));
    client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: { name: 'Ada' } }));
    await client.connect(transport);
    return { client, transport };
  }

  test('the owner crashes: the same client goes on through another worker, same id, scope, capabilities and log level', async () => {
    const a = await start();
    const b = await start();
    let target = a;
    const logs: string[] = [];
    const { client, transport } = await connect(() => target, logs);
    const sessionId = transport.sessionId!;
    await client.setLoggingLevel('error');
    await client.subscribeResource({ uri: 'memo://alpha/a' });
    expect((await client.callTool({ name: 'where' })).content).toEqual(text(a.workerId).content);

    await crash(a);
    target = b;
    // The next call is served by b, which adopted the session from its record.
    expect((await client.callTool({ name: 'where' })).content).toEqual(text(b.workerId).content);
    expect(transport.sessionId).toBe(sessionId);
    expect(store.getSession(sessionId)).toMatchObject({ workerId: b.workerId, scope: 'alpha', epoch: 1 });
    // The scope holds: alpha's tools only.
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['ask', 'logs', 'where']);
    // The log level holds: info is filtered, error comes through.
    await client.callTool({ name: 'logs' });
    expect(logs).toEqual(['an error line']);
    // The client's capabilities hold: elicitation reaches it from the new owner.
    expect((await client.callTool({ name: 'ask' })).content).toEqual(text('Ada').content);
    expect(store.getSession(sessionId)?.snapshot).toMatchObject({ logLevel: 'error', subscriptions: ['memo://alpha/a'] });
    await client.close();
  });

  test('several workers adopting at once: exactly one owner serves every request', async () => {
    const a = await start();
    const others = [await start(), await start(), await start()];
    let target = a;
    const { client, transport } = await connect(() => target);
    await crash(a);
    calls.length = 0;
    // Raw requests through every survivor at once, each over its own connection.
    const results = await Promise.all(
      others.flatMap((g, i) =>
        [0, 1, 2].map((k) =>
          rpc(
            `${g.url}/servers/alpha/mcp`,
            { jsonrpc: '2.0', id: `${i}-${k}`, method: 'tools/call', params: { name: 'where' } },
            {
              'mcp-session-id': transport.sessionId!,
            },
          ),
        ),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(9).fill(200));
    const owner = store.getSession(transport.sessionId!)!.workerId;
    expect(others.map((g) => g.workerId)).toContain(owner);
    expect(new Set(calls)).toEqual(new Set([owner]));
    expect(calls).toHaveLength(9);
    expect(store.getSession(transport.sessionId!)?.epoch).toBe(1);
    target = others[0]!;
    await client.close();
  });

  test('a drain hands its sessions off: served elsewhere afterwards, without an error', async () => {
    const a = await start();
    const b = await start();
    let target = a;
    const { client } = await connect(() => target);
    expect((await client.callTool({ name: 'where' })).content).toEqual(text(a.workerId).content);
    target = b;
    await a.router.drain(1);
    expect((await client.callTool({ name: 'where' })).content).toEqual(text(b.workerId).content);
    await client.close();
  });

  test('an idle session hibernates (no SDK objects kept) and wakes with its state on the next request', async () => {
    const a = await start({ hibernateAfterMs: 60_000 });
    // Raw requests: the SDK client would hold a GET stream open, and a session with an open
    // stream is busy, never idle.
    const url = `${a.url}/servers/alpha/mcp`;
    const sessionId = await openSession(url);
    const headers = { 'mcp-session-id': sessionId };
    expect((await rpc(url, { jsonrpc: '2.0', id: 1, method: 'logging/setLevel', params: { level: 'error' } }, headers)).status).toBe(200);
    const worker = a.router.worker;
    expect(worker.expireIdleSessions(Date.now() + 61_000)).toBe(0);
    expect(worker.sessions.size).toBe(0);
    expect(worker.sessions.isHibernated(sessionId)).toBe(true);
    const call = await rpc(url, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'logs' } }, headers);
    const logged = call
      .messages()
      .filter((m) => m.method === 'notifications/message')
      .map((m) => m.params.data);
    expect(logged).toEqual(['an error line']);
    expect(call.messages().at(-1).result).toEqual(text('logged'));
    expect(worker.sessions.has(sessionId)).toBe(true);
    // A session bound to alpha is still unknown on beta after waking.
    expect((await rpc(`${a.url}/servers/beta/mcp`, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, headers)).status).toBe(404);
    // Past the idle timeout a hibernated session ends, in the store too.
    worker.sessions.hibernate(worker.sessions.get(sessionId)!);
    expect(worker.expireIdleSessions(Date.now() + 31 * 60_000)).toBe(1);
    expect(store.getSession(sessionId)).toBeUndefined();
  });

  test('beyond maxSessionsPerWorker the least recently used idle sessions hibernate; none is refused', async () => {
    const a = await start({ maxSessionsPerWorker: 3 });
    const url = `${a.url}/servers/alpha/mcp`;
    // Raw sessions, idle between requests (an SDK client's open GET stream would keep each busy).
    const sessions: string[] = [];
    for (let i = 0; i < 8; i++) sessions.push(await openSession(url));
    expect(a.router.worker.sessions.size).toBeLessThanOrEqual(4);
    expect(a.router.worker.sessions.hibernatedCount).toBeGreaterThanOrEqual(4);
    for (const [i, sessionId] of sessions.entries()) {
      const call = await rpc(
        url,
        { jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'where' } },
        { 'mcp-session-id': sessionId },
      );
      expect(call.messages().at(-1).result).toEqual(text(a.workerId));
    }
  });

  test('with sessionContinuity: false the session ends with its owner (404)', async () => {
    const a = await start({ sessionContinuity: false });
    const b = await start({ sessionContinuity: false });
    const { transport } = await connect(() => a);
    await crash(a);
    const answer = await rpc(
      `${b.url}/servers/alpha/mcp`,
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { 'mcp-session-id': transport.sessionId! },
    );
    expect(answer.status).toBe(404);
  });
});
