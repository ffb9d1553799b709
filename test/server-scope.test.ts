/**
 * serverScope: the path, and only the path, decides what a request may see.
 *
 * Unit part: a tiny Express app mounting serverScope alone (and a bare http server calling
 * parseScopedBody), whose final handler echoes what serverScope recorded. Integration part: the
 * full gateway (startGateway), real HTTP on loopback, no mocks.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { getScope, requestState } from '../lib/http/request-state';
import { isHttpRpcError } from '../lib/http/rpc-error';
import { createCatalog } from '../lib/index';
import { parseScopedBody, serverScope } from '../lib/middleware/server-scope';
import type { McpScope, ServerScopeOptions } from '../lib/types';
import {
  ACCEPT,
  type CallLog,
  initializeBody,
  openSession,
  type RawResponse,
  type RunningGateway,
  rawRequest,
  rpc,
  startGateway,
  testCatalog,
  toolNames,
} from './helpers/gateway';

const UNKNOWN_SERVER = 'ERR_MCP_AFFINITY_UNKNOWN_SERVER';

/** Closes a server and every connection it still holds. */
function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/**
 * One request whose path is sent byte for byte (rawRequest takes a URL, and URL parsing would
 * resolve `..` and `%2e%2e` before the request leaves).
 */
function requestPath(
  base: string,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path, method: init.method ?? 'POST', headers: init.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, messages: () => [JSON.parse(body)] });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

const jsonHeaders = { 'content-type': 'application/json', accept: ACCEPT };

function expectUnknownServer(response: RawResponse): void {
  expect(response.status).toBe(404);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(response.body);
  expect(body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600, data: { code: UNKNOWN_SERVER } } });
  expect(body.result).toBeUndefined();
}

// -------------------------------------------------------------------------------------------------
// parseScopedBody, called directly on a real IncomingMessage
// -------------------------------------------------------------------------------------------------

describe('parseScopedBody', () => {
  let server: http.Server | undefined;
  let url: string;

  /** A server that runs parseScopedBody(req, limit, scope) and answers what it resolved or rejected with. */
  async function start(limit: number, scope: McpScope): Promise<void> {
    ({ server, url } = await listen((req, res) => {
      parseScopedBody(req, { bodyLimit: limit, bodyTimeoutMs: 10_000 }, scope).then(
        (messages) => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ ok: true, messages }));
        },
        (error: unknown) => {
          res.setHeader('content-type', 'application/json');
          res.setHeader('connection', 'close');
          res.end(JSON.stringify({ ok: false, httpRpcError: isHttpRpcError(error), error }));
        },
      );
    }));
  }

  afterEach(async () => {
    if (server) await closeServer(server);
    server = undefined;
  });

  const post = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    rawRequest(url, { method: 'POST', headers, body }).then((r) => JSON.parse(r.body));

  test('writes params.server_id into every request and notification of a batch, leaving responses alone', async () => {
    await start(10_000, { kind: 'server', serverId: 'alpha' });
    const batch = [
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' }, server_id: 'beta' } },
      { jsonrpc: '2.0', method: 'notifications/initialized', params: null },
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } },
      { jsonrpc: '2.0', id: 9, result: { server_id: 'beta' } },
      { jsonrpc: '2.0', id: 10, error: { code: -1, message: 'no' } },
    ];
    const answer = await post(JSON.stringify(batch));
    expect(answer.ok).toBe(true);
    expect(answer.messages).toEqual([
      { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { server_id: 'alpha' } },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' }, server_id: 'alpha' } },
      { jsonrpc: '2.0', method: 'notifications/initialized', params: { server_id: 'alpha' } },
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1, server_id: 'alpha' } },
      { jsonrpc: '2.0', id: 9, result: { server_id: 'beta' } },
      { jsonrpc: '2.0', id: 10, error: { code: -1, message: 'no' } },
    ]);
  });

  test('unscoped: removes a client-sent params.server_id and adds none', async () => {
    await start(10_000, { kind: 'all' });
    const answer = await post(
      JSON.stringify([
        { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { server_id: 'beta', cursor: 'c' } },
        { jsonrpc: '2.0', id: 2, method: 'ping' },
      ]),
    );
    expect(answer.messages).toEqual([
      { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { cursor: 'c' } },
      { jsonrpc: '2.0', id: 2, method: 'ping' },
    ]);
  });

  test.each([
    ['text/plain', 415, -32600, 'ERR_MCP_AFFINITY_UNSUPPORTED_MEDIA_TYPE', '{"jsonrpc":"2.0","id":1,"method":"ping"}'],
    ['application/json', 400, -32700, 'ERR_MCP_AFFINITY_PARSE_ERROR', '{"jsonrpc":'],
    ['application/json', 400, -32600, 'ERR_MCP_AFFINITY_INVALID_REQUEST', '[]'],
  ])('content-type %s, body %#: rejects with an HttpRpcError %i / %i', async (type, status, rpcCode, code, body) => {
    await start(10_000, { kind: 'server', serverId: 'alpha' });
    const answer = await post(body, { 'content-type': type });
    expect(answer).toMatchObject({ ok: false, httpRpcError: true, error: { status, rpcCode, code } });
  });

  test('accepts application/*+json with parameters', async () => {
    await start(10_000, { kind: 'server', serverId: 'alpha' });
    const answer = await post('{"jsonrpc":"2.0","id":1,"method":"ping"}', { 'content-type': 'application/vnd.test+json; charset=utf-8' });
    expect(answer).toEqual({ ok: true, messages: { jsonrpc: '2.0', id: 1, method: 'ping', params: { server_id: 'alpha' } } });
  });

  test('a body of exactly bodyLimit bytes is read; one byte more gets 413, declared or chunked', async () => {
    await start(64, { kind: 'all' });
    const fits = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: '' } });
    const exact = fits.replace('"pad":""', `"pad":"${'x'.repeat(64 - fits.length)}"`);
    expect(Buffer.byteLength(exact)).toBe(64);
    expect((await post(exact)).ok).toBe(true);
    const over = exact.replace('"pad":"', '"pad":"x');
    const tooLarge = { ok: false, httpRpcError: true, error: { status: 413, code: 'ERR_MCP_AFFINITY_BODY_TOO_LARGE' } };
    expect(await post(over)).toMatchObject(tooLarge);
    expect(await post(over, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })).toMatchObject(tooLarge);
  });
});

// -------------------------------------------------------------------------------------------------
// serverScope mounted alone on an Express app
// -------------------------------------------------------------------------------------------------

describe('serverScope middleware', () => {
  let server: http.Server | undefined;
  let url: string;
  let reached: number;

  async function start(options: Partial<ServerScopeOptions> = {}): Promise<void> {
    reached = 0;
    const app = express();
    const scope = serverScope({ catalog: testCatalog(), ...options });
    app.all(['/servers/:serverId/mcp', '/mcp'], scope, (req, res) => {
      reached++;
      res.json({ scope: getScope(req) ?? null, messages: requestState(req).messages ?? null });
    });
    ({ server, url } = await listen(app));
  }

  afterEach(async () => {
    if (server) await closeServer(server);
    server = undefined;
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = jsonHeaders) =>
    requestPath(url, path, { headers, body: typeof body === 'string' ? body : JSON.stringify(body) });

  test('on /servers/:id/mcp: scope is that server, server_id is created, filled in and overwritten in a batch', async () => {
    await start();
    const response = await post('/servers/alpha/mcp', [
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { jsonrpc: '2.0', id: 2, method: 'tools/list', params: null },
      { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'reverse', arguments: {}, server_id: 'beta' } },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 'r', result: {} },
    ]);
    expect(response.status).toBe(200);
    const body = JSON.parse(response.body);
    expect(body.scope).toEqual({ kind: 'server', serverId: 'alpha' });
    expect(body.messages).toEqual([
      { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { server_id: 'alpha' } },
      { jsonrpc: '2.0', id: 2, method: 'tools/list', params: { server_id: 'alpha' } },
      { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'reverse', arguments: {}, server_id: 'alpha' } },
      { jsonrpc: '2.0', method: 'notifications/initialized', params: { server_id: 'alpha' } },
      { jsonrpc: '2.0', id: 'r', result: {} },
    ]);
  });

  test('on /servers/:id/mcp: a single message gets server_id too', async () => {
    await start();
    const response = await post('/servers/beta/mcp', {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'echo', server_id: 'alpha' },
    });
    const body = JSON.parse(response.body);
    expect(body.scope).toEqual({ kind: 'server', serverId: 'beta' });
    expect(body.messages.params).toEqual({ name: 'echo', server_id: 'beta' });
  });

  test('on /mcp: the unscoped view, and a client-sent params.server_id is removed', async () => {
    await start();
    const response = await post('/mcp', [
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', server_id: 'alpha' } },
      { jsonrpc: '2.0', method: 'notifications/progress', params: { server_id: 'beta', progressToken: 1, progress: 1 } },
    ]);
    expect(response.status).toBe(200);
    const body = JSON.parse(response.body);
    expect(body.scope).toEqual({ kind: 'all' });
    expect(body.messages).toEqual([
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo' } },
      { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } },
    ]);
  });

  test('GET and DELETE are scoped without reading a body', async () => {
    await start();
    for (const method of ['GET', 'DELETE']) {
      const response = await requestPath(url, '/servers/gamma/mcp', { method, headers: { accept: 'text/event-stream' } });
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body)).toEqual({ scope: { kind: 'server', serverId: 'gamma' }, messages: null });
    }
  });

  test('415 for text/plain, with a JSON-RPC body; the handler does not run', async () => {
    await start();
    const response = await post('/servers/alpha/mcp', '{"jsonrpc":"2.0","id":1,"method":"ping"}', {
      'content-type': 'text/plain',
      accept: ACCEPT,
    });
    expect(response.status).toBe(415);
    expect(JSON.parse(response.body).error).toMatchObject({ code: -32600, data: { code: 'ERR_MCP_AFFINITY_UNSUPPORTED_MEDIA_TYPE' } });
    expect(reached).toBe(0);
  });

  test('400 -32700 for malformed JSON', async () => {
    await start();
    const response = await post('/mcp', '{"jsonrpc":"2.0",');
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).error).toMatchObject({ code: -32700, data: { code: 'ERR_MCP_AFFINITY_PARSE_ERROR' } });
    expect(reached).toBe(0);
  });

  test('400 -32600 for an empty batch', async () => {
    await start();
    const response = await post('/servers/alpha/mcp', '[]');
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).error).toMatchObject({ code: -32600, data: { code: 'ERR_MCP_AFFINITY_INVALID_REQUEST' } });
    expect(reached).toBe(0);
  });

  test('413 over bodyLimit', async () => {
    await start({ bodyLimit: 200 });
    const small = await post('/servers/alpha/mcp', { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(small.status).toBe(200);
    const response = await post('/servers/alpha/mcp', {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: 'x'.repeat(300) } },
    });
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body).error).toMatchObject({ code: -32600, data: { code: 'ERR_MCP_AFFINITY_BODY_TOO_LARGE' } });
    expect(reached).toBe(1);
  });

  test.each([
    ['a%2Fb', 'an encoded slash'],
    ['..', 'a dot segment'],
    ['%2e%2e', 'an encoded dot segment'],
    ['.', 'a single dot'],
    ['-x', 'a leading dash'],
    ['_x', 'a leading underscore'],
    ['a'.repeat(65), '65 characters'],
    ['al%20pha', 'a space'],
    ['alpha%00', 'a NUL byte'],
    ['alpha.', 'a dot'],
    ['delta', 'an unknown server'],
    ['ALPHA', 'a known server in another case'],
    ['__proto__', 'an Object.prototype key'],
    ['constructor', 'another Object.prototype key'],
  ])('id %s (%s) → 404 JSON-RPC body, never the unscoped view', async (id) => {
    await start();
    for (const method of ['POST', 'GET', 'DELETE']) {
      const response = await requestPath(url, `/servers/${id}/mcp`, {
        method,
        headers: jsonHeaders,
        body: method === 'POST' ? JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) : undefined,
      });
      expectUnknownServer(response);
    }
    expect(reached).toBe(0);
  });

  test('64 characters of the safe pattern are accepted when the server exists', async () => {
    const id = `a${'b'.repeat(63)}`;
    reached = 0;
    const app = express();
    app.all('/servers/:serverId/mcp', serverScope({ catalog: createCatalog({ [id]: {} }) }), (req, res) => {
      reached++;
      res.json({ scope: getScope(req) });
    });
    ({ server, url } = await listen(app));
    const response = await post(`/servers/${id}/mcp`, { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).scope).toEqual({ kind: 'server', serverId: id });
  });

  test('a custom serverIdPattern is applied before the catalog', async () => {
    await start({ serverIdPattern: /^[a-z]{1,5}$/ });
    expect((await post('/servers/alpha/mcp', { jsonrpc: '2.0', id: 1, method: 'ping' })).status).toBe(200);
    // gamma exists, but "gamma1" neither matches nor exists; "alphaa" matches but does not exist.
    expectUnknownServer(await post('/servers/gamma1/mcp', { jsonrpc: '2.0', id: 1, method: 'ping' }));
    expectUnknownServer(await post('/servers/alphaa/mcp', { jsonrpc: '2.0', id: 1, method: 'ping' }));
    expect(reached).toBe(1);
  });

  test('an unknown server is refused before the body is judged (404, not 415 or 400)', async () => {
    await start();
    expectUnknownServer(await post('/servers/delta/mcp', 'not json', { 'content-type': 'text/plain' }));
    expectUnknownServer(await post('/servers/delta/mcp', '{'));
    expect(reached).toBe(0);
  });
});

// -------------------------------------------------------------------------------------------------
// Through the full gateway
// -------------------------------------------------------------------------------------------------

describe('serverScope in the gateway', () => {
  let calls: CallLog;
  let gateway: RunningGateway;

  beforeEach(async () => {
    calls = [];
    gateway = await startGateway({ catalog: testCatalog(calls) });
  });

  afterEach(async () => {
    await gateway.close();
  });

  test.each([
    '/servers//mcp',
    '/servers/a/b/mcp',
    '/servers/alpha/beta/mcp',
    '/servers/alpha/../mcp',
    '/servers/../mcp',
    '/servers/%2e%2e/mcp',
    '/servers/alpha%2Fbeta/mcp',
    '/servers/-x/mcp',
    '/servers/delta/mcp',
    '/servers//mcp/',
  ])('%s → 404 JSON, no session is created, nothing runs', async (path) => {
    for (const method of ['POST', 'GET', 'DELETE']) {
      const response = await requestPath(gateway.url, path, {
        method,
        headers: { ...jsonHeaders, 'mcp-protocol-version': '2025-06-18' },
        body: method === 'POST' ? JSON.stringify(initializeBody()) : undefined,
      });
      expectUnknownServer(response);
      expect(response.headers['mcp-session-id']).toBeUndefined();
    }
    expect(gateway.router.worker.sessions.size).toBe(0);
    expect(calls).toEqual([]);
  });

  test('an id that is not valid percent-encoding → 404 JSON (not 500, not HTML)', async () => {
    const response = await requestPath(gateway.url, '/servers/%E0%A4%A/mcp', {
      headers: jsonHeaders,
      body: JSON.stringify(initializeBody()),
    });
    expectUnknownServer(response);
    expect(gateway.router.worker.sessions.size).toBe(0);
  });

  test('a session initialized on /servers/alpha/mcp is served there only: elsewhere it is 404 -32001', async () => {
    const sessionId = await openSession(`${gateway.url}/servers/alpha/mcp`);
    const list = { jsonrpc: '2.0', id: 2, method: 'tools/list' };
    const own = await rpc(`${gateway.url}/servers/alpha/mcp`, list, { 'mcp-session-id': sessionId });
    expect(own.status).toBe(200);
    expect(toolNames(own)).toEqual(['add', 'echo']);

    for (const path of ['/servers/beta/mcp', '/mcp', '/servers/gamma/mcp']) {
      const response = await rpc(`${gateway.url}${path}`, list, { 'mcp-session-id': sessionId });
      expect(response.status).toBe(404);
      expect(response.messages()[0].error).toMatchObject({ code: -32001, data: { code: 'ERR_MCP_AFFINITY_SESSION_NOT_FOUND' } });
      const call = await rpc(
        `${gateway.url}${path}`,
        { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'reverse', arguments: { text: 'ab' } } },
        { 'mcp-session-id': sessionId },
      );
      expect(call.status).toBe(404);
    }
    expect(calls).toEqual([]);
  });

  test('a session initialized on /mcp is not served on /servers/alpha/mcp', async () => {
    const sessionId = await openSession(`${gateway.url}/mcp`);
    const response = await rpc(
      `${gateway.url}/servers/alpha/mcp`,
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } },
      { 'mcp-session-id': sessionId },
    );
    expect(response.status).toBe(404);
    expect(response.messages()[0].error.code).toBe(-32001);
    expect(calls).toEqual([]);
  });

  test('GET and DELETE are scoped too: another endpoint gets 404 and the session survives', async () => {
    const sessionId = await openSession(`${gateway.url}/servers/alpha/mcp`);
    const headers = { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18', accept: 'text/event-stream' };
    for (const path of ['/servers/beta/mcp', '/mcp']) {
      for (const method of ['GET', 'DELETE']) {
        const response = await rawRequest(`${gateway.url}${path}`, { method, headers });
        expect(response.status).toBe(404);
        expect(JSON.parse(response.body).error).toMatchObject({ code: -32001, data: { code: 'ERR_MCP_AFFINITY_SESSION_NOT_FOUND' } });
      }
    }
    expect(gateway.router.worker.sessions.has(sessionId)).toBe(true);
    const still = await rpc(`${gateway.url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: 5, method: 'ping' }, { 'mcp-session-id': sessionId });
    expect(still.status).toBe(200);

    // On its own endpoint, DELETE ends it.
    const deleted = await rawRequest(`${gateway.url}/servers/alpha/mcp`, { method: 'DELETE', headers });
    expect(deleted.status).toBe(200);
    expect(gateway.router.worker.sessions.has(sessionId)).toBe(false);
  });

  test('a client-sent server_id cannot widen or move the scope', async () => {
    const sessionId = await openSession(`${gateway.url}/servers/alpha/mcp`);
    const response = await rpc(
      `${gateway.url}/servers/alpha/mcp`,
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'reverse', arguments: { text: 'ab' }, server_id: 'beta' } },
      { 'mcp-session-id': sessionId },
    );
    expect(response.status).toBe(200);
    expect(response.messages()[0].error).toBeDefined();
    expect(calls).toEqual([]);

    const all = await openSession(`${gateway.url}/mcp`);
    const listed = await rpc(
      `${gateway.url}/mcp`,
      { jsonrpc: '2.0', id: 3, method: 'tools/list', params: { server_id: 'alpha' } },
      { 'mcp-session-id': all },
    );
    expect(toolNames(listed)).toEqual(['add', 'echo', 'reverse', 'slow', 'whoami']);
  });
});
