/**
 * SessionTransport frames a session's plain POSTs itself and leaves the rest to the SDK's
 * web-standard transport. Each case runs against two real HTTP servers, one framing here and one
 * leaving every request to the SDK, with a real SDK `Server` behind each, and the answers must be
 * the same bytes (status, the headers that carry meaning, body).
 */
import http from 'node:http';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { SessionTransport } from '../../lib/sessions/session-transport';
import { handleWithTransport } from '../../lib/sessions/web-transport';
import { initializeBody, type RawResponse, rawRequest, rpc } from '../helpers/gateway';
import { listenFree } from '../helpers/ports';
import { deferred, waitFor } from '../helpers/wait';

interface Harness {
  url: string;
  transport: SessionTransport;
  /** Resolved with the request's handler signal when the `hold` tool starts. */
  held: Array<ReturnType<typeof deferred<AbortSignal>>>;
  close(): Promise<void>;
}

async function start(frames: boolean, json: boolean): Promise<Harness> {
  const sdk = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: () => 'session-1', enableJsonResponse: json });
  const transport = new SessionTransport(sdk, frames, json);
  const server = new Server({ name: 't', version: '1' }, { capabilities: { tools: {} } });
  const held: Harness['held'] = [];
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [{ name: 'add', inputSchema: { type: 'object' } }] }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    if (request.params.name === 'hold') {
      const started = held.shift();
      started?.resolve(extra.signal);
      await new Promise((resolve) => extra.signal.addEventListener('abort', resolve));
      return { content: [] };
    }
    await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: 7, progress: 1 } });
    return { content: [{ type: 'text', text: String(request.params.arguments?.a) }] };
  });
  await server.connect(transport);
  const web = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const body = text === '' ? undefined : JSON.parse(text);
      if (body?.method === 'initialize') void handleWithTransport(sdk, req, res, body, undefined);
      else void transport.handle(req, res, body, undefined);
    });
  });
  const port = await listenFree(web);
  const url = `http://127.0.0.1:${port}/mcp`;
  await rpc(url, initializeBody());
  await rpc(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': 'session-1' });
  return {
    url,
    transport,
    held,
    close: async () => {
      await server.close();
      web.closeAllConnections();
      await new Promise((resolve) => web.close(resolve));
    },
  };
}

/** What an answer means: status, content type, session id, body. */
const meaning = (r: RawResponse) => ({
  status: r.status,
  type: r.headers['content-type'],
  session: r.headers['mcp-session-id'],
  cache: r.headers['cache-control'],
  body: r.body,
});

const session = { 'mcp-session-id': 'session-1' };
const call = (id: number | string, name = 'add') => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { a: 5 } } });

describe.each([
  ['SSE', false],
  ['JSON', true],
])('SessionTransport, %s answers', (_label, json) => {
  let here: Harness;
  let sdk: Harness;
  beforeEach(async () => {
    here = await start(true, json);
    sdk = await start(false, json);
  });
  afterEach(async () => {
    await here.close();
    await sdk.close();
  });

  const both = async (body: unknown, headers: Record<string, string> = {}) => {
    const [a, b] = [await rpc(here.url, body, { ...session, ...headers }), await rpc(sdk.url, body, { ...session, ...headers })];
    expect(meaning(a)).toEqual(meaning(b));
    return a;
  };

  test('a call: the same answer, notifications included on a stream', async () => {
    const answer = await both(call(1));
    expect(answer.status).toBe(200);
    expect(answer.messages().at(-1)).toEqual({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: '5' }] } });
    expect(answer.messages()).toHaveLength(json ? 1 : 2);
  });

  test('a list, an unknown method, invalid params: the same answers', async () => {
    await both({ jsonrpc: '2.0', id: 'l', method: 'tools/list' });
    const unknown = await both({ jsonrpc: '2.0', id: 2, method: 'no/such' });
    expect(unknown.messages()[0].error.code).toBe(-32601);
    await both({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 5 } });
  });

  test('notifications only: 202, empty', async () => {
    const ack = await both({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' });
    expect(ack.status).toBe(202);
  });

  test('what the SDK refuses is refused by the SDK: Accept, Content-Type, version, batch', async () => {
    expect((await both(call(4), { accept: 'application/json' })).status).toBe(406);
    expect((await both(call(5), { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await both(call(6), { 'mcp-protocol-version': '1999-01-01' })).status).toBe(400);
    const batch = await both([call(7), call(8)], { 'mcp-protocol-version': '2025-03-26' });
    expect(batch.status).toBe(200);
  });

  test('a client gone mid-request: cancelled by the SDK, and nothing is kept for it', async () => {
    const started = deferred<AbortSignal>();
    here.held.push(started);
    const req = http.request(here.url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...session },
    });
    req.on('error', () => undefined);
    req.end(JSON.stringify(call(9, 'hold')));
    const signal = await started.promise;
    const streams = (here.transport as unknown as { streams: Map<unknown, unknown> }).streams;
    expect(streams.size).toBe(1);
    req.destroy();
    // The SDK's own cancellation is how a gone client stops a handler (OwnedSession sends it).
    here.transport.onmessage?.({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 9 } });
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    await waitFor(() => streams.size === 0, { what: 'the stream of a gone client forgotten' });
  });

  test('the session closes mid-request: the client gets an error for its request, not silence', async () => {
    const started = deferred<AbortSignal>();
    here.held.push(started);
    const pending = rawRequest(here.url, {
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...session },
      body: JSON.stringify(call(10, 'hold')),
    });
    await started.promise;
    await here.transport.close();
    const answer = await pending;
    expect(answer.messages().at(-1)).toMatchObject({ id: 10, error: { code: -32001 } });
  });
});
