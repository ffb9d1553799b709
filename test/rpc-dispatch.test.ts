/**
 * rpcDispatch: MCP over JSON-RPC, scoped by the path. One gateway, driven by the real SDK client
 * (over a new connection per request) and by raw HTTP requests for what a client library would
 * never send. Real HTTP servers on loopback, no mocks.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import express from 'express';
import {
  type AffinityWorker,
  createAffinityWorker,
  internalForwardGuard,
  newConnectionFetch,
  rpcDispatch,
  serverScope,
  sessionAffinity,
} from '../lib/index';
import {
  ACCEPT,
  type CallLog,
  initializeBody,
  openSession,
  type RunningGateway,
  rawRequest,
  rpc,
  SECRET,
  startGateway,
  testCatalog,
  toolNames,
} from './helpers/gateway';

const names = (items: Array<{ name: string }>): string[] => items.map((i) => i.name).sort();

describe('rpcDispatch through the SDK client', () => {
  let calls: CallLog;
  let gateway: RunningGateway;
  let clients: Client[];
  let transports: StreamableHTTPClientTransport[];

  beforeEach(async () => {
    calls = [];
    clients = [];
    transports = [];
    gateway = await startGateway({ catalog: testCatalog(calls) });
  });

  afterEach(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.allSettled(transports.map((t) => t.close()));
    await gateway.close();
  });

  function transportFor(path: string, sessionId?: string): StreamableHTTPClientTransport {
    const transport = new StreamableHTTPClientTransport(new URL(`${gateway.url}${path}`), { fetch: newConnectionFetch(), sessionId });
    transports.push(transport);
    return transport;
  }

  async function connect(path: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
    const client = new Client({ name: 'rpc-dispatch-test', version: '1.0.0' });
    clients.push(client);
    const transport = transportFor(path);
    await client.connect(transport);
    return { client, transport };
  }

  test('initialize on /servers/alpha/mcp: a session owned by this worker, bound to alpha', async () => {
    const { client, transport } = await connect('/servers/alpha/mcp');
    expect(transport.sessionId).toMatch(new RegExp(`^${gateway.workerId}\\.`));
    expect(client.getServerVersion()).toEqual({ name: 'express-mcp-affinity', version: '0.1.0' });
    expect(client.getServerCapabilities()).toMatchObject({ tools: {}, resources: {}, prompts: {} });
    expect(gateway.router.worker.sessions.get(transport.sessionId!)?.scope).toBe('alpha');
    await expect(client.ping()).resolves.toEqual({});
  });

  test('tools: list shows exactly alpha’s tools; echo and add run on this worker', async () => {
    const { client } = await connect('/servers/alpha/mcp');
    const { tools } = await client.listTools();
    expect(names(tools)).toEqual(['add', 'echo']);
    expect(tools.find((t) => t.name === 'echo')).toMatchObject({
      description: 'Returns the text',
      inputSchema: { type: 'object', required: ['text'] },
    });

    expect(await client.callTool({ name: 'echo', arguments: { text: 'hello' } })).toEqual({ content: [{ type: 'text', text: 'hello' }] });
    expect(await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } })).toEqual({ content: [{ type: 'text', text: '42' }] });
    expect(calls).toEqual([`alpha/echo@${gateway.workerId}`, `alpha/add@${gateway.workerId}`]);
  });

  test('another server’s tool does not exist on the alpha session and never runs', async () => {
    const { client } = await connect('/servers/alpha/mcp');
    await expect(client.callTool({ name: 'reverse', arguments: { text: 'abc' } })).rejects.toMatchObject({
      code: -32602,
      message: expect.stringContaining('reverse'),
    });
    await expect(client.callTool({ name: 'whoami', arguments: {} })).rejects.toMatchObject({ code: -32602 });
    expect(calls).toEqual([]);
  });

  test('invalid tool arguments: isError result, handler not called', async () => {
    const { client } = await connect('/servers/alpha/mcp');
    const wrongType = await client.callTool({ name: 'echo', arguments: { text: 5 } });
    expect(wrongType.isError).toBe(true);
    expect(JSON.stringify(wrongType.content)).toContain('Invalid arguments for tool echo');
    const missing = await client.callTool({ name: 'add', arguments: { a: 1 } });
    expect(missing.isError).toBe(true);
    const none = await client.callTool({ name: 'echo' });
    expect(none.isError).toBe(true);
    expect(calls).toEqual([]);
  });

  test('resources: only alpha’s are listed and readable, including a template URI', async () => {
    const { client } = await connect('/servers/alpha/mcp');
    const { resources } = await client.listResources();
    expect(resources).toEqual([{ uri: 'memo://alpha/readme', name: 'readme', mimeType: 'text/plain' }]);
    expect(await client.readResource({ uri: 'memo://alpha/readme' })).toEqual({
      contents: [{ uri: 'memo://alpha/readme', text: 'alpha readme' }],
    });
    expect(await client.readResource({ uri: 'memo://alpha/notes/42' })).toEqual({
      contents: [{ uri: 'memo://alpha/notes/42', text: 'note 42' }],
    });
    await expect(client.readResource({ uri: 'memo://beta/secret' })).rejects.toMatchObject({ code: -32002 });
    await expect(client.readResource({ uri: 'memo://alpha/other' })).rejects.toMatchObject({ code: -32002 });

    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates).toEqual([{ uriTemplate: 'memo://alpha/notes/{id}', name: 'note' }]);
  });

  test('beta’s session cannot read alpha’s resource or template', async () => {
    const { client } = await connect('/servers/beta/mcp');
    expect((await client.listResources()).resources.map((r) => r.uri)).toEqual(['memo://beta/secret']);
    expect((await client.listResourceTemplates()).resourceTemplates).toEqual([]);
    await expect(client.readResource({ uri: 'memo://alpha/readme' })).rejects.toMatchObject({ code: -32002 });
    await expect(client.readResource({ uri: 'memo://alpha/notes/1' })).rejects.toMatchObject({ code: -32002 });
    expect((await client.readResource({ uri: 'memo://beta/secret' })).contents).toEqual([{ uri: 'memo://beta/secret', text: 'beta only' }]);
    expect((await client.listPrompts()).prompts).toEqual([]);
    await expect(client.getPrompt({ name: 'greet', arguments: { who: 'x' } })).rejects.toMatchObject({ code: -32602 });
  });

  test('prompts: list and get greet; a missing required argument is refused', async () => {
    const { client } = await connect('/servers/alpha/mcp');
    const { prompts } = await client.listPrompts();
    expect(prompts).toEqual([{ name: 'greet', arguments: [{ name: 'who', required: true }] }]);
    const prompt = await client.getPrompt({ name: 'greet', arguments: { who: 'Ann' } });
    expect(prompt.messages).toEqual([{ role: 'user', content: { type: 'text', text: 'Hello Ann' } }]);
    await expect(client.getPrompt({ name: 'greet', arguments: {} })).rejects.toMatchObject({ code: -32602 });
  });

  test('on /mcp the client sees every server’s tools and can run them', async () => {
    const { client, transport } = await connect('/mcp');
    expect(gateway.router.worker.sessions.get(transport.sessionId!)?.scope).toBe('*');
    expect(names((await client.listTools()).tools)).toEqual(['add', 'echo', 'reverse', 'slow', 'whoami']);
    expect(await client.callTool({ name: 'reverse', arguments: { text: 'abc' } })).toEqual({ content: [{ type: 'text', text: 'cba' }] });
    expect((await client.listResources()).resources.map((r) => r.uri).sort()).toEqual(['memo://alpha/readme', 'memo://beta/secret']);
    expect((await client.readResource({ uri: 'memo://alpha/notes/7' })).contents).toEqual([
      { uri: 'memo://alpha/notes/7', text: 'note 7' },
    ]);
    expect(calls).toEqual([`beta/reverse@${gateway.workerId}`]);
  });

  test('terminateSession, then close: the id gets 404 from raw requests and from the SDK transport', async () => {
    const { client, transport } = await connect('/servers/alpha/mcp');
    const sessionId = transport.sessionId!;
    await transport.terminateSession();
    await client.close();
    expect(gateway.router.worker.sessions.has(sessionId)).toBe(false);

    const raw = await rpc(
      `${gateway.url}/servers/alpha/mcp`,
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { 'mcp-session-id': sessionId },
    );
    expect(raw.status).toBe(404);
    expect(raw.messages()[0].error).toMatchObject({ code: -32001, data: { code: 'ERR_MCP_AFFINITY_SESSION_NOT_FOUND' } });

    const stale = transportFor('/servers/alpha/mcp', sessionId);
    await stale.start();
    const sent = stale.send({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} });
    await expect(sent).rejects.toBeInstanceOf(StreamableHTTPError);
    await expect(sent).rejects.toMatchObject({ code: 404 });
    expect(calls).toEqual([]);
  });

  test('client.close() alone ends nothing on the server; the session still answers', async () => {
    const { client, transport } = await connect('/servers/alpha/mcp');
    const sessionId = transport.sessionId!;
    await client.close();
    const raw = await rpc(
      `${gateway.url}/servers/alpha/mcp`,
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { 'mcp-session-id': sessionId },
    );
    expect(raw.status).toBe(200);
    expect(toolNames(raw)).toEqual(['add', 'echo']);
  });
});

describe('rpcDispatch with raw requests', () => {
  let calls: CallLog;
  let gateway: RunningGateway;
  let alpha: string;
  let sessionId: string;
  const pending: http.ClientRequest[] = [];

  beforeEach(async () => {
    calls = [];
    gateway = await startGateway({ catalog: testCatalog(calls) });
    alpha = `${gateway.url}/servers/alpha/mcp`;
    sessionId = await openSession(alpha);
  });

  afterEach(async () => {
    for (const req of pending.splice(0)) req.destroy();
    await gateway.close();
  });

  test('a notification with a session → 202, empty body', async () => {
    const response = await rpc(alpha, { jsonrpc: '2.0', method: 'notifications/roots/list_changed' }, { 'mcp-session-id': sessionId });
    expect(response.status).toBe(202);
    expect(response.body).toBe('');
  });

  test('a non-initialize POST without a session → 400 and no session is created', async () => {
    const before = gateway.router.worker.sessions.size;
    for (const body of [
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
    ]) {
      const response = await rpc(alpha, body);
      expect(response.status).toBe(400);
      expect(JSON.parse(response.body).error).toMatchObject({ code: -32000, data: { code: 'ERR_MCP_AFFINITY_SESSION_REQUIRED' } });
    }
    expect(gateway.router.worker.sessions.size).toBe(before);
    expect(calls).toEqual([]);
  });

  test.each([
    ['{"foo":1}', null],
    ['{"jsonrpc":"1.0","id":4,"method":"ping"}', 4],
    ['{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}', null],
    ['42', null],
    ['null', null],
  ])('%s with a session → 400 -32600', async (body, id) => {
    const response = await rpc(alpha, body, { 'mcp-session-id': sessionId });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ id, error: { code: -32600, data: { code: 'ERR_MCP_AFFINITY_INVALID_REQUEST' } } });
  });

  test('tools/call with params.name a number → 400 -32602 carrying the request id; nothing runs', async () => {
    const response = await rpc(
      alpha,
      { jsonrpc: '2.0', id: 'call-1', method: 'tools/call', params: { name: 123, arguments: {} } },
      { 'mcp-session-id': sessionId },
    );
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({
      jsonrpc: '2.0',
      id: 'call-1',
      error: { code: -32602, data: { code: 'ERR_MCP_AFFINITY_INVALID_PARAMS' } },
    });
    const uri = await rpc(alpha, { jsonrpc: '2.0', id: 2, method: 'resources/read', params: {} }, { 'mcp-session-id': sessionId });
    expect(uri.status).toBe(400);
    expect(JSON.parse(uri.body).error.code).toBe(-32602);
    expect(calls).toEqual([]);
  });

  test('a batch under protocol version 2025-06-18 → 400 -32600; under 2025-03-26 it is served', async () => {
    const batch = [
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'one' } } },
      { jsonrpc: '2.0', id: 2, method: 'tools/list' },
    ];
    const refused = await rpc(alpha, batch, { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' });
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body).error).toMatchObject({ code: -32600, data: { code: 'ERR_MCP_AFFINITY_INVALID_REQUEST' } });
    expect(calls).toEqual([]);

    const served = await rpc(alpha, batch, { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-03-26' });
    expect(served.status).toBe(200);
    const byId = new Map(served.messages().map((m) => [m.id, m]));
    expect(byId.get(1).result).toEqual({ content: [{ type: 'text', text: 'one' }] });
    expect(
      byId
        .get(2)
        .result.tools.map((t: { name: string }) => t.name)
        .sort(),
    ).toEqual(['add', 'echo']);
    expect(calls).toEqual([`alpha/echo@${gateway.workerId}`]);
  });

  test('initialize inside a batch is refused, even where batches are allowed', async () => {
    const response = await rpc(`${gateway.url}/servers/alpha/mcp`, [initializeBody(1), { jsonrpc: '2.0', id: 2, method: 'ping' }], {
      'mcp-protocol-version': '2025-03-26',
    });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).error.code).toBe(-32600);
  });

  test.each(['PUT', 'PATCH'])('%s → 405 with an Allow header', async (method) => {
    const response = await rawRequest(alpha, {
      method,
      headers: { 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': sessionId },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('GET, POST, DELETE');
    expect(JSON.parse(response.body).error.data.code).toBe('ERR_MCP_AFFINITY_METHOD_NOT_ALLOWED');
  });

  test('GET with the session and Accept text/event-stream → 200 text/event-stream', async () => {
    const head = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(
        alpha,
        {
          method: 'GET',
          agent: false,
          headers: { accept: 'text/event-stream', 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' },
        },
        resolve,
      );
      pending.push(req);
      req.on('error', reject);
      req.end();
    });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-type']).toMatch(/^text\/event-stream/);
    head.destroy();

    // Without a session, GET is refused.
    const without = await rawRequest(alpha, { method: 'GET', headers: { accept: 'text/event-stream' } });
    expect(without.status).toBe(400);
  });

  test('DELETE ends the session; afterwards the id is 404 for POST, GET and DELETE', async () => {
    const headers = { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18', accept: ACCEPT };
    expect((await rawRequest(alpha, { method: 'DELETE', headers })).status).toBe(200);
    expect((await rpc(alpha, { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': sessionId })).status).toBe(404);
    expect((await rawRequest(alpha, { method: 'GET', headers: { ...headers, accept: 'text/event-stream' } })).status).toBe(404);
    expect((await rawRequest(alpha, { method: 'DELETE', headers })).status).toBe(404);
  });
});

describe('rpcDispatch mounted without serverScope', () => {
  let worker: AffinityWorker | undefined;
  let server: http.Server | undefined;
  let url: string;
  let calls: CallLog;

  async function start(withScope: boolean): Promise<void> {
    calls = [];
    const catalog = testCatalog(calls);
    worker = createAffinityWorker({ secret: SECRET });
    const app = express();
    const chain = [
      sessionAffinity({ worker }),
      internalForwardGuard({ worker }),
      ...(withScope ? [serverScope({ catalog })] : []),
      rpcDispatch({ worker, catalog }),
    ];
    app.all(['/mcp', '/servers/:serverId/mcp'], ...chain);
    await worker.listen(app);
    server = http.createServer(app);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  afterEach(async () => {
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    }
    await worker?.close();
    server = undefined;
    worker = undefined;
  });

  test('answers 500 ERR_MCP_AFFINITY_MISWIRED and runs no handler', async () => {
    await start(false);
    const init = await rpc(`${url}/servers/alpha/mcp`, initializeBody());
    expect(init.status).toBe(500);
    expect(JSON.parse(init.body).error).toMatchObject({ code: -32603, data: { code: 'ERR_MCP_AFFINITY_MISWIRED' } });
    expect(init.headers['mcp-session-id']).toBeUndefined();
    expect(worker!.sessions.size).toBe(0);

    for (const path of ['/servers/alpha/mcp', '/mcp']) {
      const call = await rpc(
        `${url}${path}`,
        { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } },
        { 'mcp-session-id': `${worker!.workerId}.anything` },
      );
      expect(call.status).toBe(500);
      expect(JSON.parse(call.body).error.data.code).toBe('ERR_MCP_AFFINITY_MISWIRED');
      const get = await rawRequest(`${url}${path}`, { method: 'GET', headers: { accept: 'text/event-stream' } });
      expect(get.status).toBe(500);
    }
    expect(calls).toEqual([]);
  });

  test('the same chain with serverScope works (control)', async () => {
    await start(true);
    const sessionId = await openSession(`${url}/servers/alpha/mcp`);
    const call = await rpc(
      `${url}/servers/alpha/mcp`,
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } },
      { 'mcp-session-id': sessionId },
    );
    expect(call.status).toBe(200);
    expect(calls).toEqual([`alpha/echo@${worker!.workerId}`]);
  });
});
