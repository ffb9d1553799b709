/**
 * Protocol 2026-07-28, sessionless, spoken by the real `@modelcontextprotocol/client` 2.x client
 * pinned to it: served by the worker that receives each request, never forwarded, scoped by path.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { MemoryStore } from '../lib/index';
import { type CallLog, openSession, type RunningGateway, rawRequest, rpc, startGateway, testCatalog } from './helpers/gateway';

const VERSION = '2026-07-28';
const meta = {
  'io.modelcontextprotocol/protocolVersion': VERSION,
  'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

describe(`protocol ${VERSION}`, () => {
  let calls: CallLog;
  let a: RunningGateway;
  let b: RunningGateway;
  beforeAll(async () => {
    calls = [];
    const store = new MemoryStore();
    a = await startGateway({ store, catalog: testCatalog(calls) });
    b = await startGateway({ store, catalog: testCatalog(calls) });
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  test('the v2 client connects, lists and calls through the path’s scope, on the worker it reaches', async () => {
    const client = new Client({ name: 'v2', version: '1.0.0' }, { versionNegotiation: { mode: { pin: VERSION } } });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${a.url}/servers/alpha/mcp`)));
    try {
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['add', 'echo']);
      const sum = await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } });
      expect((sum.content as Array<{ text: string }>)[0]!.text).toBe('42');
      expect(calls).toEqual([`alpha/add@${a.workerId}`]);
      // Another server's tool does not exist here, and never runs.
      await expect(client.callTool({ name: 'reverse', arguments: { text: 'x' } })).rejects.toThrow(/Unknown tool/);
      expect(calls).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  test('never forwarded, even with a session id another worker owns; GET and DELETE get 405', async () => {
    const session = await openSession(`${a.url}/servers/beta/mcp`);
    const body = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: meta } };
    const response = await rpc(`${b.url}/servers/beta/mcp`, body, {
      'mcp-protocol-version': VERSION,
      'mcp-method': 'tools/list',
      'mcp-session-id': session,
    });
    expect(response.status).toBe(200);
    expect(response.headers['mcp-affinity-forwarded']).toBeUndefined();
    expect(response.headers['mcp-affinity-served-by']).toBe(b.workerId);
    expect(response.messages()[0].result).toMatchObject({ resultType: 'complete', tools: [{ name: 'reverse' }, { name: 'whoami' }] });
    for (const method of ['GET', 'DELETE']) {
      const answer = await rawRequest(`${b.url}/servers/beta/mcp`, { method, headers: { 'mcp-protocol-version': VERSION } });
      expect(answer.status).toBe(405);
      expect(JSON.parse(answer.body).error.data.code).toBe('ERR_MCP_AFFINITY_METHOD_NOT_ALLOWED');
    }
  });

  test('headers must agree with the body, _meta is required, unknown methods are 404', async () => {
    const url = `${a.url}/servers/alpha/mcp`;
    const call = (body: object, headers: Record<string, string>) => rpc(url, body, { 'mcp-protocol-version': VERSION, ...headers });
    const mismatch = await call({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: meta } }, { 'mcp-method': 'prompts/list' });
    expect(mismatch.status).toBe(400);
    expect(mismatch.messages()[0]).toMatchObject({ id: 1, error: { code: -32020 } });
    const wrongName = await call(
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' }, _meta: meta } },
      { 'mcp-method': 'tools/call', 'mcp-name': 'add' },
    );
    expect(wrongName.status).toBe(400);
    expect(wrongName.messages()[0].error.code).toBe(-32020);
    const noMeta = await call({ jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'mcp-method': 'tools/list' });
    expect(noMeta.status).toBe(400);
    expect(noMeta.messages()[0].error.code).toBe(-32602);
    const unknown = await call({ jsonrpc: '2.0', id: 4, method: 'nope/nope', params: { _meta: meta } }, { 'mcp-method': 'nope/nope' });
    expect(unknown.status).toBe(404);
    expect(unknown.messages()[0].error.code).toBe(-32601);
  });
});
