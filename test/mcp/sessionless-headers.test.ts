/**
 * 2026-07-28 on a real gateway: caching hints per virtual server (defaults, configured, forced
 * private under a per-principal policy, checked at creation), and the `Mcp-Param-*` headers of
 * SEP-2243 compared with the body after decoding.
 */
import { createCatalog, type ToolDefinition, type VirtualServerDefinition } from '../../lib/index';
import { type RunningGateway, rpc, startGateway } from '../helpers/gateway';
import { keys } from '../helpers/tokens';

const V2026 = '2026-07-28';
const meta = {
  'io.modelcontextprotocol/protocolVersion': V2026,
  'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });

function servers(calls: string[]): Record<string, VirtualServerDefinition> {
  const route: ToolDefinition = {
    name: 'route',
    inputSchema: {
      type: 'object',
      properties: {
        region: { type: 'string', 'x-mcp-header': 'Region' },
        count: { type: 'integer', 'x-mcp-header': 'Count' },
        note: { type: 'string' },
      },
    },
    handler: (args: Record<string, unknown>) => (calls.push(`route ${String(args.region)}`), text('ok')),
  };
  return {
    plain: {
      tools: [route],
      resources: [{ uri: 'memo://plain/a', name: 'a', read: () => ({ contents: [{ uri: 'memo://plain/a', text: 'a' }] }) }],
    },
    stable: { tools: [route], cacheHints: { ttlMs: 60_000, cacheScope: 'public' } },
  };
}

function post(gateway: RunningGateway, server: string, method: string, params: object, headers: Record<string, string> = {}) {
  return rpc(
    `${gateway.url}/servers/${server}/mcp`,
    { jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: meta } },
    {
      'mcp-protocol-version': V2026,
      'mcp-method': method,
      ...headers,
    },
  );
}

describe('2026-07-28 caching hints', () => {
  let gateway: RunningGateway;
  beforeAll(async () => {
    gateway = await startGateway({ catalog: createCatalog(servers([])) });
  });
  afterAll(() => gateway.close());

  test('defaults on every cacheable result: ttlMs 0, private', async () => {
    for (const [method, params, name] of [
      ['server/discover', {}, undefined],
      ['tools/list', {}, undefined],
      ['resources/list', {}, undefined],
      ['resources/templates/list', {}, undefined],
      ['prompts/list', {}, undefined],
      ['resources/read', { uri: 'memo://plain/a' }, 'memo://plain/a'],
    ] as const) {
      const answer = await post(gateway, 'plain', method, params, name ? { 'mcp-name': name } : {});
      expect([method, JSON.parse(answer.body).result]).toMatchObject([method, { ttlMs: 0, cacheScope: 'private', resultType: 'complete' }]);
    }
    // Not cacheable: no hints on a call's result.
    const call = JSON.parse((await post(gateway, 'plain', 'tools/call', { name: 'route', arguments: {} }, { 'mcp-name': 'route' })).body);
    expect(call.result.ttlMs).toBeUndefined();
  });

  test('a virtual server’s own hints', async () => {
    const listed = JSON.parse((await post(gateway, 'stable', 'tools/list', {})).body);
    expect(listed.result).toMatchObject({ ttlMs: 60_000, cacheScope: 'public' });
    const discovered = JSON.parse((await post(gateway, 'stable', 'server/discover', {})).body);
    expect(discovered.result).toMatchObject({ ttlMs: 60_000, cacheScope: 'public' });
  });

  test('an authorize policy makes every result private, whatever the server says', async () => {
    const k = await keys();
    const guarded = await startGateway({ catalog: createCatalog(servers([])), auth: k.auth({ authorize: () => true }) });
    try {
      const token = await k.mint('alice');
      const listed = JSON.parse((await post(guarded, 'stable', 'tools/list', {}, { authorization: `Bearer ${token}` })).body);
      expect(listed.result).toMatchObject({ ttlMs: 60_000, cacheScope: 'private' });
    } finally {
      await guarded.close();
    }
  });

  test('bad hints are refused at creation, naming the option', () => {
    expect(() => createCatalog({ a: { cacheHints: { ttlMs: -1 } } })).toThrow(/servers\.a\.cacheHints\.ttlMs received -1/);
    expect(() => createCatalog({ a: { cacheHints: { cacheScope: 'shared' as never } } })).toThrow(
      /cacheScope received .*shared.*'public' or 'private'/,
    );
  });
});

describe('Mcp-Param-* headers (SEP-2243)', () => {
  const calls: string[] = [];
  let gateway: RunningGateway;
  beforeAll(async () => {
    gateway = await startGateway({ catalog: createCatalog(servers(calls)) });
  });
  afterAll(() => gateway.close());

  const call = (args: object, headers: Record<string, string>) =>
    post(gateway, 'plain', 'tools/call', { name: 'route', arguments: args }, { 'mcp-name': 'route', ...headers });

  test('headers that say what the body says are accepted, plain or base64', async () => {
    expect((await call({ region: 'us-west1', count: 3 }, { 'mcp-param-region': 'us-west1', 'mcp-param-count': '3' })).status).toBe(200);
    const encoded = `=?base64?${Buffer.from('zürich').toString('base64')}?=`;
    expect((await call({ region: 'zürich' }, { 'mcp-param-region': encoded })).status).toBe(200);
    // A property without x-mcp-header needs no header.
    expect((await call({ note: 'n' }, {})).status).toBe(200);
    expect(calls).toEqual(['route us-west1', 'route zürich', 'route undefined']);
  });

  test('a tool the principal may not see is answered as unknown, whatever its headers say', async () => {
    const k = await keys();
    const guarded = await startGateway({
      catalog: createCatalog(servers(calls)),
      auth: k.auth({ authorize: ({ kind, name }) => !(kind === 'tool' && name === 'route') }),
    });
    try {
      const authorization = `Bearer ${await k.mint('bob')}`;
      const ask = (name: string) =>
        post(
          guarded,
          'plain',
          'tools/call',
          { name, arguments: { region: 'us-west1' } },
          { 'mcp-name': name, 'mcp-param-region': 'eu-west1', authorization },
        );
      const hidden = await ask('route');
      const unknown = await ask('nosuch');
      expect(hidden.status).toBe(unknown.status);
      expect(JSON.parse(hidden.body).error.code).toBe(JSON.parse(unknown.body).error.code);
      expect(JSON.parse(hidden.body).error.message).toContain('Unknown tool');
    } finally {
      await guarded.close();
    }
  });

  test.each([
    ['a different value', { region: 'us-west1' }, { 'mcp-param-region': 'eu-west1' }, 'Mcp-Param-Region'],
    ['a missing header', { region: 'us-west1' }, {}, 'Mcp-Param-Region'],
    ['a header for an absent argument', {}, { 'mcp-param-count': '1' }, 'Mcp-Param-Count'],
    ['a number that differs', { count: 3 }, { 'mcp-param-count': '4' }, 'Mcp-Param-Count'],
  ])('%s: 400 with -32020, and the tool never runs', async (_case, args, headers, named) => {
    const before = calls.length;
    const answer = await call(args, headers);
    expect(answer.status).toBe(400);
    const error = JSON.parse(answer.body).error;
    expect(error.code).toBe(-32020);
    expect(error.message).toContain(named);
    expect(calls.length).toBe(before);
  });
});
