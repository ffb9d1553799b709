/**
 * Sessions over time, in-process: idle expiry, back-pressure, graceful drain, and an owner that
 * dies in the middle of a stream. Two workers share a MemoryStore; requests go to a chosen worker
 * over a new connection each.
 */
import http from 'node:http';
import { createCatalog, MemoryStore } from '../lib/index';
import {
  ACCEPT,
  type CallLog,
  Gate,
  initializeBody,
  openSession,
  type RunningGateway,
  rawRequest,
  rpc,
  startGateway,
  testCatalog,
} from './helpers/gateway';
import { deferred } from './helpers/wait';

/** Fake timers for the worker's own timers (idle sweep, drain period); the network still runs. */
const fakeTimers = () => jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });

/** Starts gamma's slow tool; resolves with the whole SSE body once the tool finished. */
function slowCall(url: string, sessionId: string, id: number): { started: Promise<void>; done: Promise<{ status: number; body: string }> } {
  let markStarted!: () => void;
  const started = new Promise<void>((r) => (markStarted = r));
  const done = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(
      `${url}/servers/gamma/mcp`,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
          if (body.includes('notifications/progress')) markStarted();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(
      JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: {}, _meta: { progressToken: id } } }),
    );
  });
  return { started, done };
}

describe('lifecycle', () => {
  let store: MemoryStore;
  let calls: CallLog;
  let gates: Gate[];
  /** Every gate a test made, released after it so no tool stays blocked. */
  const created: Gate[] = [];
  const running: RunningGateway[] = [];
  const start = async (options: Parameters<typeof startGateway>[0] extends infer O ? Partial<O> : never = {}) => {
    const gateway = await startGateway({ store, catalog: testCatalog(calls, gates), ...options });
    running.push(gateway);
    return gateway;
  };

  /** A gate the next slow call will wait on. */
  const newGate = (): Gate => {
    const gate = new Gate();
    gates.push(gate);
    created.push(gate);
    return gate;
  };

  beforeEach(() => {
    store = new MemoryStore();
    calls = [];
    gates = [];
  });
  afterEach(async () => {
    jest.useRealTimers();
    for (const gate of created) gate.release();
    created.length = 0;
    await Promise.all(running.splice(0).map((g) => g.close()));
  });

  test('an idle session expires on its owner and in the store; a busy one does not', async () => {
    fakeTimers(); // before the worker starts, so that its idle sweep runs on the fake clock
    const a = await start({ sessionIdleTimeoutMs: 300 });
    const idle = await openSession(`${a.url}/servers/alpha/mcp`);
    const busy = await openSession(`${a.url}/servers/alpha/mcp`);
    const gate = newGate();
    const working = await openSession(`${a.url}/servers/gamma/mcp`);
    const call = slowCall(a.url, working, 1);
    await call.started;

    for (let i = 0; i < 12; i++) {
      expect((await rpc(`${a.url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: i, method: 'ping' }, { 'mcp-session-id': busy })).status).toBe(
        200,
      );
      await jest.advanceTimersByTimeAsync(60);
    }
    // 720 ms later: the idle one is gone, the busy one and the one with a call in flight are not.
    expect((await rpc(`${a.url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': idle })).status).toBe(
      404,
    );
    expect(store.getSession(idle)).toBeUndefined();
    expect(a.router.worker.sessions.has(idle)).toBe(false);
    expect(a.router.worker.sessions.has(working)).toBe(true);
    jest.useRealTimers();
    gate.release();
    expect((await call.done).body).toContain('slow done');
  });

  test('over the per-session bound the client gets 429 with Retry-After; other sessions are served', async () => {
    const a = await start({ maxConcurrentPerSession: 2 });
    const b = await start();
    const session = await openSession(`${a.url}/servers/gamma/mcp`);
    const other = await openSession(`${a.url}/servers/alpha/mcp`);
    const held = [newGate(), newGate()];
    const first = slowCall(b.url, session, 1);
    const second = slowCall(b.url, session, 2);
    await Promise.all([first.started, second.started]);

    const refused = await rpc(`${b.url}/servers/gamma/mcp`, { jsonrpc: '2.0', id: 3, method: 'ping' }, { 'mcp-session-id': session });
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.messages()[0]).toMatchObject({ id: 3, error: { data: { code: 'ERR_MCP_AFFINITY_TOO_MANY_REQUESTS' } } });
    expect(
      (await rpc(`${b.url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: 4, method: 'tools/list' }, { 'mcp-session-id': other })).status,
    ).toBe(200);
    for (const gate of held) gate.release();
    expect((await first.done).status).toBe(200);
    expect((await second.done).status).toBe(200);
  });

  test('over the per-worker bound the client gets 503 with Retry-After', async () => {
    const a = await start();
    const b = await start({ maxConcurrentRequests: 1 });
    const session = await openSession(`${a.url}/servers/gamma/mcp`);
    const gate = newGate();
    const slow = slowCall(b.url, session, 1);
    await slow.started;
    const refused = await rpc(`${b.url}/servers/gamma/mcp`, { jsonrpc: '2.0', id: 2, method: 'ping' }, { 'mcp-session-id': session });
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.messages()[0].error.data.code).toBe('ERR_MCP_AFFINITY_TOO_MANY_REQUESTS');
    gate.release();
    await slow.done;
    expect((await rpc(`${b.url}/servers/gamma/mcp`, { jsonrpc: '2.0', id: 3, method: 'ping' }, { 'mcp-session-id': session })).status).toBe(
      200,
    );
  });

  test('one slow session does not stall other sessions’ forwards to the same owner', async () => {
    const a = await start();
    const b = await start();
    const slowSession = await openSession(`${a.url}/servers/gamma/mcp`);
    const quickSession = await openSession(`${a.url}/servers/alpha/mcp`);
    const gate = newGate();
    const slow = slowCall(b.url, slowSession, 1);
    await slow.started;
    for (let i = 0; i < 10; i++) {
      const quick = await rpc(
        `${b.url}/servers/alpha/mcp`,
        { jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'echo', arguments: { text: `q${i}` } } },
        { 'mcp-session-id': quickSession },
      );
      expect(quick.status).toBe(200);
      expect(quick.headers['mcp-affinity-forwarded']).toBe('true');
    }
    expect(calls.filter((c) => c.startsWith('alpha/echo'))).toHaveLength(10);
    gate.release();
    expect((await slow.done).body).toContain('slow done');
  });

  test('drain: new sessions refused at once, sessions served through the period, no request cut off, then 404', async () => {
    // Without continuity a drained worker's sessions end (with it, they are handed off: continuity tests).
    const a = await start({ sessionContinuity: false });
    const b = await start({ sessionContinuity: false });
    const session = await openSession(`${a.url}/servers/gamma/mcp`);
    const gate = newGate();
    const inFlight = slowCall(b.url, session, 1);
    await inFlight.started;

    fakeTimers(); // the drain period runs on the fake clock
    const drained = a.router.drain(300);
    const refused = await rpc(`${a.url}/servers/alpha/mcp`, initializeBody());
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.messages()[0].error.data.code).toBe('ERR_MCP_AFFINITY_DRAINING');
    // Still served during the period, directly and through a peer.
    expect((await rpc(`${a.url}/servers/gamma/mcp`, { jsonrpc: '2.0', id: 2, method: 'ping' }, { 'mcp-session-id': session })).status).toBe(
      200,
    );
    expect((await rpc(`${b.url}/servers/gamma/mcp`, { jsonrpc: '2.0', id: 3, method: 'ping' }, { 'mcp-session-id': session })).status).toBe(
      200,
    );

    await jest.advanceTimersByTimeAsync(400); // the period is over, but a call is still in flight: the worker waits for it
    expect(store.getWorker(a.workerId)).toBeDefined();
    jest.useRealTimers();
    gate.release();
    const finished = await inFlight.done;
    expect(finished.status).toBe(200);
    expect(finished.body).toContain('slow done');
    await drained;

    expect(store.getWorker(a.workerId)).toBeUndefined();
    expect((await rpc(`${b.url}/servers/gamma/mcp`, { jsonrpc: '2.0', id: 4, method: 'ping' }, { 'mcp-session-id': session })).status).toBe(
      404,
    );
    // The client re-initializes elsewhere.
    expect((await rpc(`${b.url}/servers/gamma/mcp`, initializeBody())).status).toBe(200);
  });

  test('an owner that dies mid-stream: the stream ends with a JSON-RPC error, the next request gets 404', async () => {
    const a = await start({ sessionContinuity: false });
    const b = await start({ sessionContinuity: false });
    const session = await openSession(`${a.url}/servers/gamma/mcp`);
    newGate();
    const call = slowCall(b.url, session, 7);
    await call.started;
    const internal = (a.router.worker as unknown as { internal: { server: http.Server } }).internal.server;
    internal.closeAllConnections();
    internal.close();

    const { status, body } = await call.done;
    expect(status).toBe(200);
    const events = body
      .split('\n\n')
      .map((e) => e.split('\n').find((l) => l.startsWith('data:')))
      .filter((d): d is string => d !== undefined)
      .map((d) => JSON.parse(d.slice(5)));
    expect(events.at(-1)).toMatchObject({
      jsonrpc: '2.0',
      id: 7,
      error: { code: -32001, data: { code: 'ERR_MCP_AFFINITY_SESSION_NOT_FOUND' } },
    });
    expect((await rpc(`${b.url}/servers/gamma/mcp`, { jsonrpc: '2.0', id: 8, method: 'ping' }, { 'mcp-session-id': session })).status).toBe(
      404,
    );
    const fresh = await rawRequest(`${b.url}/servers/gamma/mcp`, {
      headers: { 'content-type': 'application/json', accept: ACCEPT },
      body: JSON.stringify(initializeBody()),
    });
    expect(fresh.status).toBe(200);
  });

  test('a client that disconnects cancels the work on the owner: the tool’s abort signal fires', async () => {
    const aborted = deferred<unknown>();
    const gate = newGate(); // released after the test, so the tool ends even if no abort came
    let markStarted!: () => void;
    const started = new Promise<void>((r) => (markStarted = r));
    const catalog = createCatalog({
      g: {
        tools: [
          {
            name: 'wait',
            inputSchema: { type: 'object' },
            handler: async (_args, ctx) => {
              await ctx.sendProgress(1);
              markStarted();
              await new Promise<void>((resolve) => {
                ctx.signal.addEventListener('abort', () => (aborted.resolve(ctx.signal.reason), resolve()));
                void gate.released.then(resolve);
              });
              return { content: [{ type: 'text', text: 'done' }] };
            },
          },
        ],
      },
    });
    const a = await start({ catalog });
    const b = await start({ catalog });
    const session = await openSession(`${a.url}/servers/g/mcp`);
    const req = http.request(`${b.url}/servers/g/mcp`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
    });
    req.on('response', (res) => res.resume());
    req.on('error', () => undefined);
    req.end(
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'wait', arguments: {}, _meta: { progressToken: 1 } } }),
    );
    await started;
    req.destroy(); // the client goes away from B; B drops its hop to A; A cancels the call
    expect(String(await aborted.promise)).toMatch(/the client disconnected/);
  });
});
