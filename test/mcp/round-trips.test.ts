/**
 * One handler API for both eras: a tool that asks the user (`ctx.elicitInput`) and the model
 * (`ctx.createMessage`) works for a 2025 session (server-to-client requests, the SDK v1 client)
 * and for a 2026-07-28 client (multi round-trip requests: `input_required`, then retries), here
 * the real `@modelcontextprotocol/client` 2.x whose requests alternate between two workers. A
 * tampered `requestState`, or one moved to other arguments, is refused.
 */
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { createCatalog, MemoryStore, newConnectionFetch, type ToolDefinition } from '../../lib/index';
import { type RunningGateway, rpc, startGateway } from '../helpers/gateway';

const VERSION = '2026-07-28';
const meta = {
  'io.modelcontextprotocol/protocolVersion': VERSION,
  'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': { elicitation: {}, sampling: {} },
};

function catalog(runs: string[]) {
  const plan = planTool(runs);
  return createCatalog({ alpha: { tools: [plan] }, beta: { tools: [plan] } });
}

function planTool(runs: string[]): ToolDefinition {
  return {
    name: 'plan',
    inputSchema: { type: 'object', properties: { trip: { type: 'string' } }, required: ['trip'] },
    handler: async ({ trip }, ctx) => {
      runs.push(ctx.workerId);
      const answer = await ctx.elicitInput({
        message: `Go to ${String(trip)}?`,
        requestedSchema: { type: 'object', properties: { go: { type: 'boolean' } }, required: ['go'] },
      });
      const sampled = await ctx.createMessage({
        messages: [{ role: 'user', content: { type: 'text', text: `Plan ${String(trip)}` } }],
        maxTokens: 10,
      });
      const text = (sampled.content as { text?: string }).text;
      return { content: [{ type: 'text', text: `${answer.action}:${JSON.stringify(answer.content)}:${text}` }] };
    },
  };
}

describe('questions to the client, in both eras', () => {
  const runs: string[] = [];
  let a: RunningGateway;
  let b: RunningGateway;
  beforeAll(async () => {
    const store = new MemoryStore();
    a = await startGateway({ store, catalog: catalog(runs) });
    b = await startGateway({ store, catalog: catalog(runs) });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  test('2025 session (SDK v1 client): server-to-client elicitation and sampling, as before', async () => {
    const client = new Client({ name: 'v1', version: '1' }, { capabilities: { elicitation: {}, sampling: {} } });
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { go: true } }));
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({
      role: 'assistant',
      model: 'm',
      content: { type: 'text', text: 'sampled' },
    }));
    await client.connect(new StreamableHTTPClientTransport(new URL(`${a.url}/servers/alpha/mcp`), { fetch: newConnectionFetch() }));
    try {
      const result = await client.callTool({ name: 'plan', arguments: { trip: 'Oslo' } });
      expect((result.content as Array<{ text: string }>)[0]!.text).toBe('accept:{"go":true}:sampled');
    } finally {
      await client.close();
    }
  });

  test('2026-07-28 (v2 client): input_required twice, each retry on the other worker, then the result', async () => {
    runs.length = 0;
    const servedBy: string[] = [];
    const fresh = newConnectionFetch();
    let turn = 0;
    // A balancer that alternates: each request goes to the other worker.
    const alternating = async (url: string | URL, init?: RequestInit) => {
      const target = new URL(String(url));
      target.port = new URL(turn++ % 2 === 0 ? a.url : b.url).port;
      const response = await fresh(target, init);
      servedBy.push(String(response.headers.get('mcp-affinity-served-by')));
      return response;
    };
    const client = new ClientV2(
      { name: 'v2', version: '1' },
      { capabilities: { elicitation: {}, sampling: {} }, versionNegotiation: { mode: { pin: VERSION } } },
    );
    client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { go: true } }));
    client.setRequestHandler('sampling/createMessage', async () => ({
      role: 'assistant',
      model: 'm',
      content: { type: 'text', text: 'sampled' },
    }));
    await client.connect(new TransportV2(new URL(`${a.url}/servers/alpha/mcp`), { fetch: alternating }));
    try {
      const before = servedBy.length;
      const result = await client.callTool({ name: 'plan', arguments: { trip: 'Oslo' } });
      expect((result.content as Array<{ text: string }>)[0]!.text).toBe('accept:{"go":true}:sampled');
      // Three rounds (two questions), on both workers, nothing kept between them.
      expect(runs).toHaveLength(3);
      expect(new Set(servedBy.slice(before))).toEqual(new Set([a.workerId, b.workerId]));
    } finally {
      await client.close();
    }
  });

  test('a tampered requestState, or one moved to other arguments, is refused (-32602) and nothing runs', async () => {
    const call = (args: object, extra: object = {}) =>
      rpc(
        `${a.url}/servers/alpha/mcp`,
        { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'plan', arguments: args, _meta: meta, ...extra } },
        { 'mcp-protocol-version': VERSION, 'mcp-method': 'tools/call', 'mcp-name': 'plan' },
      );
    const first = JSON.parse((await call({ trip: 'Rome' })).body).result;
    expect(first.resultType).toBe('input_required');
    const [key] = Object.keys(first.inputRequests);
    expect(first.inputRequests[key!]).toMatchObject({ method: 'elicitation/create', params: { message: 'Go to Rome?' } });
    const answer = { inputResponses: { [key!]: { action: 'accept', content: { go: false } } } };
    const runsBefore = runs.length;
    const tampered = `${first.requestState.slice(0, -2)}AA`;
    for (const [args, state] of [
      [{ trip: 'Rome' }, tampered],
      [{ trip: 'Paris' }, first.requestState],
    ] as const) {
      const refused = JSON.parse((await call(args, { ...answer, requestState: state })).body);
      expect(refused.error.code).toBe(-32602);
      expect(refused.error.message).toMatch(/requestState/);
    }
    // The genuine state, on another virtual server with a tool of the same name: refused too.
    const elsewhere = JSON.parse(
      (
        await rpc(
          `${a.url}/servers/beta/mcp`,
          {
            jsonrpc: '2.0',
            id: 3,
            method: 'tools/call',
            params: { name: 'plan', arguments: { trip: 'Rome' }, _meta: meta, ...answer, requestState: first.requestState },
          },
          { 'mcp-protocol-version': VERSION, 'mcp-method': 'tools/call', 'mcp-name': 'plan' },
        )
      ).body,
    );
    expect(elsewhere.error.code).toBe(-32602);
    expect(runs.length).toBe(runsBefore);
    // The genuine state, on the other worker: the next question (sampling).
    const second = JSON.parse(
      (
        await rpc(
          `${b.url}/servers/alpha/mcp`,
          {
            jsonrpc: '2.0',
            id: 2,
            method: 'tools/call',
            params: { name: 'plan', arguments: { trip: 'Rome' }, _meta: meta, ...answer, requestState: first.requestState },
          },
          { 'mcp-protocol-version': VERSION, 'mcp-method': 'tools/call', 'mcp-name': 'plan' },
        )
      ).body,
    ).result;
    expect(second.resultType).toBe('input_required');
    expect(Object.values(second.inputRequests)[0]).toMatchObject({ method: 'sampling/createMessage' });
    expect(second.ttlMs).toBeUndefined();
  });
});
