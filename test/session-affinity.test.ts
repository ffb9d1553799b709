/**
 * Two workers in this process, sharing a MemoryStore, each with a public port and an internal
 * listener. Requests target a worker explicitly, over a new connection each, so "sent to B"
 * really means B received it.
 */
import http from 'node:http';
import { SIGNATURE_HEADER, signHop } from '../lib/hop/hop-signature';
import { MemoryStore } from '../lib/index';
import {
  ACCEPT,
  type CallLog,
  Gate,
  openSession,
  type RunningGateway,
  rawRequest,
  rpc,
  SECRET,
  startGateway,
  testCatalog,
  toolNames,
} from './helpers/gateway';

describe('sessionAffinity between two workers', () => {
  let store: MemoryStore;
  let calls: CallLog;
  let gates: Gate[];
  let a: RunningGateway;
  let b: RunningGateway;

  beforeEach(async () => {
    store = new MemoryStore();
    calls = [];
    gates = [];
    const catalog = testCatalog(calls, gates);
    // Affinity alone: a session ends with its owner (continuity has its own tests).
    a = await startGateway({ store, catalog, sessionContinuity: false });
    b = await startGateway({ store, catalog, sessionContinuity: false });
  });

  afterEach(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  test('initialize is served by the receiving worker, which owns the session; ids carry ≥128 random bits', async () => {
    const sessionId = await openSession(`${a.url}/servers/alpha/mcp`);
    const [owner, random] = sessionId.split('.');
    expect(owner).toBe(a.workerId);
    expect(Buffer.from(random!, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
    expect(store.getSession(sessionId)).toMatchObject({ sessionId, workerId: a.workerId, scope: 'alpha' });
    expect(b.seen).toHaveLength(0);
    const other = await openSession(`${a.url}/servers/alpha/mcp`);
    expect(other).not.toBe(sessionId);
  });

  test('a request reaching a non-owner is forwarded once to the owner’s internal address, with method, path, query and headers', async () => {
    const sessionId = await openSession(`${a.url}/servers/alpha/mcp`);
    const before = a.seen.length;
    const response = await rpc(
      `${b.url}/servers/alpha/mcp?trace=1&x=%20y`,
      { jsonrpc: '2.0', id: 7, method: 'tools/list' },
      {
        'mcp-session-id': sessionId,
        'x-client-header': 'kept',
      },
    );
    expect(response.status).toBe(200);
    expect(response.headers['mcp-affinity-received-by']).toBe(b.workerId);
    expect(response.headers['mcp-affinity-served-by']).toBe(a.workerId);
    expect(response.headers['mcp-affinity-forwarded']).toBe('true');
    expect(toolNames(response)).toEqual(['add', 'echo']);
    expect(response.messages()[0].id).toBe(7);

    // Exactly one request reached A, on its internal listener, and B handled one public request.
    const hops = a.seen.slice(before);
    expect(hops).toHaveLength(1);
    expect(hops[0]).toMatchObject({ method: 'POST', url: '/servers/alpha/mcp?trace=1&x=%20y', internal: true });
    expect(hops[0]!.headers['x-client-header']).toBe('kept');
    expect(hops[0]!.headers['mcp-session-id']).toBe(sessionId);
    expect(hops[0]!.headers[SIGNATURE_HEADER]).toMatch(new RegExp(`to=${a.workerId},from=${b.workerId},`));
    expect(b.seen.filter((r) => r.internal)).toHaveLength(0);
  });

  test('tools/call through the forward executes on the owner only', async () => {
    const sessionId = await openSession(`${a.url}/servers/beta/mcp`);
    const response = await rpc(
      `${b.url}/servers/beta/mcp`,
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'whoami', arguments: {} } },
      { 'mcp-session-id': sessionId },
    );
    expect(response.status).toBe(200);
    expect(JSON.parse(response.messages()[0].result.content[0].text).workerId).toBe(a.workerId);
    expect(calls).toEqual([`beta/whoami@${a.workerId}`]);
  });

  test('an SSE response is streamed through the forward: progress arrives while the tool is still running', async () => {
    const sessionId = await openSession(`${a.url}/servers/gamma/mcp`);
    const gate = new Gate();
    gates.push(gate);
    const events: string[] = [];
    let sawProgressBeforeRelease = false;
    const done = new Promise<{ status: number; type: string | undefined }>((resolve, reject) => {
      const req = http.request(
        `${b.url}/servers/gamma/mcp`,
        {
          method: 'POST',
          agent: false,
          headers: {
            'content-type': 'application/json',
            accept: ACCEPT,
            'mcp-session-id': sessionId,
            'mcp-protocol-version': '2025-06-18',
          },
        },
        (res) => {
          res.setEncoding('utf8');
          let buffer = '';
          res.on('data', (chunk: string) => {
            buffer += chunk;
            let end: number;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              const event = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const data = event.split('\n').find((l) => l.startsWith('data:'));
              if (!data) continue;
              events.push(data);
              // The first progress event reached the client through B while the tool still waits
              // on the gate: the forward did not buffer the response.
              if (data.includes('notifications/progress') && events.length === 1) {
                sawProgressBeforeRelease = true;
                gate.release();
              }
            }
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: 3,
          method: 'tools/call',
          params: { name: 'slow', arguments: {}, _meta: { progressToken: 'p1' } },
        }),
      );
    });
    const { status, type } = await done;
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/event-stream/);
    expect(sawProgressBeforeRelease).toBe(true);
    expect(events).toHaveLength(3);
    expect(events[2]).toContain('slow done');
    expect(calls).toEqual([`gamma/slow@${a.workerId}`]);
  });

  test('a forwarded request is never forwarded again', async () => {
    const sessionId = await openSession(`${a.url}/servers/alpha/mcp`);
    // A correctly signed hop addressed to B, for a session B does not own: B must answer itself.
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const internalUrl = b.router.worker.workerRecord!.internalUrl;
    const signature = signHop(SECRET, {
      method: 'POST',
      url: '/servers/alpha/mcp',
      sessionId,
      targetWorkerId: b.workerId,
      sourceWorkerId: a.workerId,
      body: Buffer.from(body),
      headers: { 'content-type': 'application/json', accept: ACCEPT },
    });
    const before = a.seen.length;
    const response = await rawRequest(`${internalUrl}/servers/alpha/mcp`, {
      headers: {
        'content-type': 'application/json',
        accept: ACCEPT,
        'mcp-session-id': sessionId,
        'x-forwarded-internally': 'true',
        [SIGNATURE_HEADER]: signature,
      },
      body,
    });
    expect(response.status).toBe(404);
    expect(a.seen.length).toBe(before);
  });

  test('DELETE from a non-owner ends the session on its owner; the id then gets 404 everywhere', async () => {
    const sessionId = await openSession(`${a.url}/servers/alpha/mcp`);
    const deleted = await rawRequest(`${b.url}/servers/alpha/mcp`, {
      method: 'DELETE',
      headers: { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' },
    });
    expect(deleted.status).toBe(200);
    expect(deleted.headers['mcp-affinity-served-by']).toBe(a.workerId);
    expect(a.router.worker.sessions.has(sessionId)).toBe(false);
    expect(store.getSession(sessionId)).toBeUndefined();
    for (const url of [a.url, b.url]) {
      const after = await rpc(`${url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-session-id': sessionId });
      expect(after.status).toBe(404);
      expect(after.messages()[0].error.code).toBe(-32001);
    }
  });

  test('when the owner’s process is gone, its sessions answer 404 at once (no hang, no 502)', async () => {
    const sessionId = await openSession(`${a.url}/servers/alpha/mcp`);
    // Warm B's pooled connection to A, then make A vanish without deregistering, as a crash would.
    expect(
      (await rpc(`${b.url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': sessionId })).status,
    ).toBe(200);
    const internal = (a.router.worker as unknown as { internal: { server: http.Server } }).internal.server;
    internal.closeAllConnections();
    await new Promise<void>((resolve) => internal.close(() => resolve()));
    expect(store.getWorker(a.workerId)).toBeDefined();
    // No hang: the answer arrives within the test timeout (the only bound) and is a 404.
    const response = await rpc(
      `${b.url}/servers/alpha/mcp`,
      { jsonrpc: '2.0', id: 2, method: 'tools/list' },
      { 'mcp-session-id': sessionId },
    );
    expect(response.status).toBe(404);
    expect(response.messages()[0].error).toMatchObject({ code: -32001, data: { code: 'ERR_MCP_AFFINITY_SESSION_NOT_FOUND' } });

    // Once the store drops the worker, B does not even try.
    await store.deregisterWorker(a.workerId);
    const again = await rpc(`${b.url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'mcp-session-id': sessionId });
    expect(again.status).toBe(404);
  });

  test('an id naming no live worker, or not issued by any worker, gets 404', async () => {
    for (const id of ['wdeadbeef0000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'not-an-id', `${a.workerId}.forged`]) {
      const response = await rpc(`${b.url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'mcp-session-id': id });
      expect(response.status).toBe(404);
    }
  });

  test('an oversize body is refused with 413 before any forward', async () => {
    await b.close();
    b = await startGateway({ store, catalog: testCatalog(), bodyLimit: 1000 });
    const sessionId = await openSession(`${a.url}/servers/alpha/mcp`);
    const before = a.seen.length;
    const response = await rpc(
      `${b.url}/servers/alpha/mcp`,
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(5000) } } },
      { 'mcp-session-id': sessionId },
    );
    expect(response.status).toBe(413);
    expect(response.messages()[0].error.data.code).toBe('ERR_MCP_AFFINITY_BODY_TOO_LARGE');
    expect(a.seen.length).toBe(before);
  });
});
