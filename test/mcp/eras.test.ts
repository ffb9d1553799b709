/**
 * The same catalog answers the same way in both protocol eras, era codes aside: a 2025-06-18
 * session (the SDK's transport and Server) and 2026-07-28 sessionless requests both go through the
 * one core. Each case that once differed between the eras is here.
 */
import { SESSION_CAPABILITIES, SESSIONLESS_CAPABILITIES } from '../../lib/mcp/capabilities';
import { openSession, type RawResponse, type RunningGateway, rpc, startGateway, testCatalog } from '../helpers/gateway';

const V2026 = '2026-07-28';
const meta = {
  'io.modelcontextprotocol/protocolVersion': V2026,
  'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
/** 20,000 nested arrays: valid JSON that must be refused by the schema, not crash anything. */
const DEEP = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;

describe('one core, two eras', () => {
  let gateway: RunningGateway;
  let session: string;
  const url = () => `${gateway.url}/servers/alpha/mcp`;
  beforeAll(async () => {
    gateway = await startGateway({ catalog: testCatalog() });
    session = await openSession(url());
  });
  afterAll(() => gateway.close());

  /** One request in each era, with the params given as JSON text (so odd shapes survive). */
  async function both(method: string, paramsJson: string, name?: string): Promise<{ s2025: RawResponse; s2026: RawResponse }> {
    const s2025 = await rpc(url(), `{"jsonrpc":"2.0","id":1,"method":"${method}","params":${paramsJson}}`, { 'mcp-session-id': session });
    const withMeta =
      paramsJson === '{}' ? `{"_meta":${JSON.stringify(meta)}}` : paramsJson.replace(/^\{/, `{"_meta":${JSON.stringify(meta)},`);
    const s2026 = await rpc(url(), `{"jsonrpc":"2.0","id":1,"method":"${method}","params":${withMeta}}`, {
      'mcp-protocol-version': V2026,
      'mcp-method': method,
      ...(name === undefined ? {} : { 'mcp-name': name }),
    });
    return { s2025, s2026 };
  }
  const error = (response: RawResponse) => response.messages().find((m) => 'error' in m || 'result' in m);

  test('prompts/get without a required argument: -32602 in both, and the prompt never runs', async () => {
    const { s2025, s2026 } = await both('prompts/get', '{"name":"greet","arguments":{}}', 'greet');
    expect([s2025.status, s2026.status]).toEqual([200, 200]);
    expect(error(s2025).error.code).toBe(-32602);
    expect(error(s2026).error.code).toBe(-32602);
    expect(error(s2025).error.message).toBe(`MCP error -32602: ${error(s2026).error.message}`);
  });

  test.each([
    ['arguments: 5', '{"name":"greet","arguments":5}'],
    ['arguments nested 20,000 deep', `{"name":"greet","arguments":${DEEP}}`],
  ])('prompts/get with %s: 400 and -32602 in both, with no internal message', async (_what, params) => {
    const { s2025, s2026 } = await both('prompts/get', params, 'greet');
    expect([s2025.status, s2026.status]).toEqual([400, 400]);
    expect(error(s2025)).toMatchObject({ id: 1, error: { code: -32602, message: 'Invalid params for prompts/get' } });
    expect(error(s2026)).toMatchObject({ id: 1, error: { code: -32602, message: 'Invalid params for prompts/get' } });
  });

  test('tools/call without a name: 400 and -32602 in both', async () => {
    const { s2025, s2026 } = await both('tools/call', '{"arguments":{}}');
    expect([s2025.status, s2026.status]).toEqual([400, 400]);
    expect(error(s2025).error.code).toBe(-32602);
    expect(error(s2026).error.code).toBe(-32602);
  });

  test('an unknown tool: the same error in both', async () => {
    const { s2025, s2026 } = await both('tools/call', '{"name":"reverse","arguments":{"text":"x"}}', 'reverse');
    // The SDK prefixes a session's error message with its code; the text is the same.
    expect(error(s2025).error).toMatchObject({ code: -32602, message: 'MCP error -32602: Unknown tool: reverse' });
    expect(error(s2026).error).toMatchObject({ code: -32602, message: 'Unknown tool: reverse' });
  });

  test('a resource that does not exist: -32002 in 2025, -32602 in 2026-07-28 (the era’s code), same message', async () => {
    const { s2025, s2026 } = await both('resources/read', '{"uri":"memo://beta/secret"}', 'memo://beta/secret');
    expect(error(s2025).error).toMatchObject({ code: -32002, message: 'MCP error -32002: Resource not found: memo://beta/secret' });
    expect(error(s2026).error).toMatchObject({ code: -32602, message: 'Resource not found: memo://beta/secret' });
  });

  test('the same items, results and completions in both', async () => {
    for (const [method, params] of [
      ['tools/list', '{}'],
      ['prompts/list', '{}'],
      ['resources/templates/list', '{}'],
      ['completion/complete', '{"ref":{"type":"ref/prompt","name":"greet"},"argument":{"name":"who","value":"A"}}'],
    ] as const) {
      const { s2025, s2026 } = await both(method, params);
      if (!error(s2026).result) throw new Error(`${method} in 2026-07-28: ${s2026.body}`);
      const { resultType, ttlMs, cacheScope, ...result2026 } = error(s2026).result;
      expect(resultType).toBe('complete');
      expect(result2026).toEqual(error(s2025).result);
    }
  });

  test('the capabilities both eras announce come from one place', async () => {
    const init = await rpc(url(), {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    });
    expect(init.messages()[0].result.capabilities).toEqual(SESSION_CAPABILITIES);
    const discover = await rpc(
      url(),
      { jsonrpc: '2.0', id: 2, method: 'server/discover', params: { _meta: meta } },
      { 'mcp-protocol-version': V2026, 'mcp-method': 'server/discover' },
    );
    expect(discover.messages()[0].result.capabilities).toEqual(SESSIONLESS_CAPABILITIES);
    // The same methods are served; 2026-07-28 only lacks what needs a session's stream.
    for (const kind of ['tools', 'resources', 'prompts', 'completions']) expect(SESSIONLESS_CAPABILITIES).toHaveProperty(kind);
  });

  test('ping and logging/setLevel stay in the 2025 era and are unknown in 2026-07-28 (404, -32601)', async () => {
    for (const [method, params] of [
      ['ping', '{}'],
      ['logging/setLevel', '{"level":"error"}'],
    ] as const) {
      const { s2025, s2026 } = await both(method, params);
      expect(s2025.status).toBe(200);
      expect(error(s2025).result).toEqual({});
      expect(s2026.status).toBe(404);
      expect(error(s2026).error.code).toBe(-32601);
    }
  });

  test('Mcp-Name may be base64-encoded; it is decoded before it is compared with the body', async () => {
    const body = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' }, _meta: meta } };
    const headers = { 'mcp-protocol-version': V2026, 'mcp-method': 'tools/call' };
    const encoded = `=?base64?${Buffer.from('echo').toString('base64')}?=`;
    const ok = await rpc(url(), body, { ...headers, 'mcp-name': encoded });
    expect(ok.status).toBe(200);
    expect(ok.messages()[0].result.content).toEqual([{ type: 'text', text: 'hi' }]);
    const wrong = await rpc(url(), body, { ...headers, 'mcp-name': `=?base64?${Buffer.from('add').toString('base64')}?=` });
    expect(wrong.status).toBe(400);
    expect(wrong.messages()[0].error.code).toBe(-32020);
  });

  test('2026-07-28 results carry the cache hints where they are required', async () => {
    const headers = (method: string, name?: string) => ({
      'mcp-protocol-version': V2026,
      'mcp-method': method,
      ...(name ? { 'mcp-name': name } : {}),
    });
    const discover = await rpc(
      url(),
      { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: meta } },
      headers('server/discover'),
    );
    const list = await rpc(url(), { jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: meta } }, headers('tools/list'));
    const read = await rpc(
      url(),
      { jsonrpc: '2.0', id: 3, method: 'resources/read', params: { uri: 'memo://alpha/readme', _meta: meta } },
      headers('resources/read', 'memo://alpha/readme'),
    );
    for (const answer of [discover, list, read]) {
      expect(answer.messages()[0].result).toMatchObject({ resultType: 'complete', ttlMs: 0, cacheScope: 'private' });
    }
  });
});
