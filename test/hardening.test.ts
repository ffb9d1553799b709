/**
 * The ways to stall a worker or get a non-JSON answer that a hostile run found: bodies that never
 * arrive, GETs that declare a body, batches that get around the per-session bound, two requests
 * with one id, and paths shaped like MCP endpoints.
 */
import net from 'node:net';
import { MemoryStore } from '../lib/index';
import {
  ACCEPT,
  Gate,
  initializeBody,
  openSession,
  type RunningGateway,
  rawRequest,
  rpc,
  startGateway,
  testCatalog,
} from './helpers/gateway';

/** Opens a connection that sends complete POST headers declaring a body, and never sends it. */
function silentBody(url: string, sessionId?: string): Promise<{ socket: net.Socket; answer: Promise<string> }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(
        `POST /servers/alpha/mcp HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nAccept: ${ACCEPT}\r\n` +
          `${sessionId ? `Mcp-Session-Id: ${sessionId}\r\n` : ''}Content-Length: 1000\r\n\r\n`,
      );
      let text = '';
      const answer = new Promise<string>((done) => {
        socket.on('data', (c) => (text += c));
        socket.on('close', () => done(text));
        socket.on('error', () => done(text));
      });
      resolve({ socket, answer });
    });
  });
}

describe('hardening', () => {
  let store: MemoryStore;
  const running: RunningGateway[] = [];
  const gates: Gate[] = [];
  const start = async (options: Record<string, unknown> = {}) => {
    const gateway = await startGateway({ store, catalog: testCatalog([], gates), ...options });
    running.push(gateway);
    return gateway;
  };
  beforeEach(() => {
    store = new MemoryStore();
  });
  afterEach(async () => {
    for (const gate of gates.splice(0)) gate.release();
    await Promise.all(running.splice(0).map((g) => g.close()));
  });

  test('bodies that never arrive hold no slot, and are answered 408 after bodyTimeoutMs', async () => {
    const a = await start({ maxConcurrentRequests: 2, bodyTimeoutMs: 200 });
    const session = await openSession(`${a.url}/servers/alpha/mcp`);
    const silent = await Promise.all(Array.from({ length: 6 }, () => silentBody(a.url, session)));
    // Served while six requests wait for bodies that never come.
    const served = await rpc(`${a.url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'mcp-session-id': session });
    expect(served.status).toBe(200);
    for (const { answer } of silent) {
      const text = await answer;
      expect(text).toMatch(/^HTTP\/1\.1 408/);
      expect(text).toContain('ERR_MCP_AFFINITY_BODY_TIMEOUT');
    }
  });

  test('a forwarded request takes a slot on the worker that received it only, not on the owner too', async () => {
    const a = await start({ maxConcurrentRequests: 1 });
    const b = await start();
    const session = await openSession(`${a.url}/servers/gamma/mcp`);
    const gate = new Gate();
    gates.push(gate);
    const held = rpc(
      `${b.url}/servers/gamma/mcp`,
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow', arguments: {} } },
      {
        'mcp-session-id': session,
      },
    );
    await gate.started;
    // A's only slot is free although it is serving the hop.
    const direct = await rpc(`${a.url}/servers/gamma/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-session-id': session });
    expect(direct.status).toBe(200);
    gate.release();
    expect((await held).status).toBe(200);
  });

  test('a GET or DELETE declaring a body is refused with 400 before the body is read', async () => {
    const a = await start();
    const session = await openSession(`${a.url}/servers/alpha/mcp`);
    for (const method of ['GET', 'DELETE']) {
      const answer = await rawRequest(`${a.url}/servers/alpha/mcp`, {
        method,
        headers: { accept: 'text/event-stream', 'mcp-session-id': session, 'content-length': '1048576' },
        body: Buffer.alloc(16),
      }).catch((error: Error) => error);
      if (answer instanceof Error) throw answer;
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body).error.data.code).toBe('ERR_MCP_AFFINITY_UNEXPECTED_BODY');
    }
    // The session is untouched.
    expect((await rpc(`${a.url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': session })).status).toBe(
      200,
    );
  });

  test('a 2025-06-18 session omitting MCP-Protocol-Version still may not batch; a 2025-03-26 batch counts each call', async () => {
    const a = await start({ maxConcurrentPerSession: 4 });
    const url = `${a.url}/servers/alpha/mcp`;
    const session = await openSession(url);
    const batch = (n: number) => Array.from({ length: n }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' }));
    const refused = await rawRequest(url, {
      headers: { 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': session },
      body: JSON.stringify(batch(2)),
    });
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body).error.message).toMatch(/batches are not allowed in protocol version 2025-06-18/);

    const init = await rpc(url, { ...initializeBody(), params: { ...initializeBody().params, protocolVersion: '2025-03-26' } });
    const old = String(init.headers['mcp-session-id']);
    await rpc(
      url,
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { 'mcp-session-id': old, 'mcp-protocol-version': '2025-03-26' },
    );
    const headers = { 'mcp-session-id': old, 'mcp-protocol-version': '2025-03-26' };
    expect((await rpc(url, batch(4), headers)).status).toBe(200);
    const over = await rpc(url, batch(5), headers);
    expect(over.status).toBe(429);
  });

  test('a second request with the id of one in flight in the session is refused with a JSON-RPC error', async () => {
    const a = await start();
    const url = `${a.url}/servers/gamma/mcp`;
    const session = await openSession(url);
    const gate = new Gate();
    gates.push(gate);
    const first = rpc(
      url,
      { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'slow', arguments: {} } },
      { 'mcp-session-id': session },
    );
    await gate.started;
    const second = await rpc(url, { jsonrpc: '2.0', id: 7, method: 'tools/list' }, { 'mcp-session-id': session });
    expect(second.status).toBe(400);
    expect(second.messages()[0]).toMatchObject({ id: 7, error: { code: -32600 } });
    gate.release();
    const done = await first;
    expect(done.messages().at(-1).result.content[0].text).toBe('slow done');
    // Once it finished, the id is free again.
    expect((await rpc(url, { jsonrpc: '2.0', id: 7, method: 'tools/list' }, { 'mcp-session-id': session })).status).toBe(200);
  });

  test('a query carrying an encoded MCP URL is the app’s own route, never taken as an MCP-shaped path', async () => {
    const a = await startGateway({ store, catalog: testCatalog([], gates) }, (app, router) => {
      app.use(router);
      app.get(['/authorize', '/login'], (req, res) => void res.json({ route: req.path }));
    });
    running.push(a);
    for (const path of [
      '/authorize?client_id=c&resource=https%3A%2F%2Fgw.example.com%2Fmcp',
      '/login?next=%2Fmcp',
      '/login?next=/servers/alpha/mcp',
    ]) {
      const answer = await fetch(`${a.url}${path}`);
      expect({ path, status: answer.status, body: await answer.json() }).toEqual({
        path,
        status: 200,
        body: { route: path.split('?')[0] },
      });
    }
  });

  test.each([
    '/servers/alpha/mcp//',
    '//servers/alpha/mcp',
    '/servers/alpha/mcp;x=1',
    '/servers/alpha%2fmcp',
    '/servers/alpha/mcp%2F',
    '/servers/alpha/mcp.json',
    '/./mcp',
    '/x/../mcp',
    '/%2Fmcp',
  ])('%s answers a JSON-RPC 404, never an HTML page', async (path) => {
    const a = await start();
    // Written on a socket as is: an HTTP client would normalize `/x/../mcp` before sending it.
    const { hostname, port } = new URL(a.url);
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const text = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(port), hostname, () =>
        socket.end(
          `POST ${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\nContent-Type: application/json\r\nAccept: ${ACCEPT}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        ),
      );
      let received = '';
      socket.on('data', (c) => (received += c));
      socket.on('close', () => resolve(received));
    });
    const [head = '', payload = ''] = text.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 404/);
    expect(head.toLowerCase()).toContain('content-type: application/json');
    expect(JSON.parse(payload).error.data.code).toMatch(/^ERR_MCP_AFFINITY_(NOT_FOUND|UNKNOWN_SERVER)$/);
  });
});
