/**
 * What rpcDispatch offers beyond tools, resources and prompts, always through the session's scope:
 * servers hidden from /mcp (`unscoped: false`), completion, resource subscriptions, log levels,
 * and server-to-client requests (sampling, elicitation) from inside a tool, across workers.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { createCatalog, type MemoryCatalog, MemoryStore } from '../lib/index';
import { type RunningGateway, startGateway } from './helpers/gateway';
import { waitFor } from './helpers/wait';

const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });

function catalog(): MemoryCatalog {
  return createCatalog({
    alpha: {
      tools: [
        {
          name: 'logs',
          inputSchema: { type: 'object' },
          handler: async (_args, ctx) => {
            await ctx.log('debug', 'a debug line');
            await ctx.log('error', { problem: 'an error line' }, 'alpha-logger');
            return text('logged');
          },
        },
        {
          name: 'ask',
          inputSchema: { type: 'object' },
          handler: async (_args, ctx) => {
            const sampled = await ctx.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }], maxTokens: 5 });
            const elicited = await ctx.elicitInput({
              message: 'name?',
              requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
            });
            return text(`${sampled.content.type === 'text' ? sampled.content.text : '?'} / ${JSON.stringify(elicited.content)}`);
          },
        },
      ],
      resources: [{ uri: 'memo://alpha/doc', name: 'doc', read: () => ({ contents: [{ uri: 'memo://alpha/doc', text: 'doc' }] }) }],
      resourceTemplates: [
        {
          uriTemplate: 'memo://alpha/items/{id}',
          name: 'item',
          read: (uri) => ({ contents: [{ uri, text: 'item' }] }),
          complete: { id: (value) => ['10', '11', '20'].filter((id) => id.startsWith(value)) },
        },
      ],
      prompts: [
        {
          name: 'city',
          arguments: [{ name: 'name', required: true }],
          get: (args) => ({ messages: [{ role: 'user', content: { type: 'text', text: args.name! } }] }),
          complete: {
            name: (value, { arguments: given }) =>
              ['paris', 'porto', 'tokyo', ...(given.country ? [given.country] : [])].filter((c) => c.startsWith(value)),
          },
        },
      ],
    },
    beta: {
      resources: [{ uri: 'memo://beta/secret', name: 'secret', read: () => ({ contents: [{ uri: 'memo://beta/secret', text: 'x' }] }) }],
      prompts: [{ name: 'hidden', get: () => ({ messages: [] }) }],
    },
    quiet: {
      unscoped: false,
      tools: [{ name: 'only_here', description: 'x', inputSchema: { type: 'object' }, handler: () => text('here') }],
    },
  });
}

async function connect(url: string, capabilities: Record<string, object> = {}): Promise<Client> {
  const client = new Client({ name: 'caps', version: '1.0.0' }, { capabilities });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

describe('rpcDispatch capabilities', () => {
  let a: RunningGateway;
  let b: RunningGateway;
  let shared: MemoryCatalog;
  const clients: Client[] = [];
  const open = async (url: string, capabilities?: Record<string, object>) => {
    const client = await connect(url, capabilities);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    const store = new MemoryStore();
    shared = catalog();
    a = await startGateway({ store, catalog: shared });
    b = await startGateway({ store, catalog: catalog() });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await a.close();
    await b.close();
  });

  test('a server with unscoped: false is served on its endpoint only', async () => {
    const quiet = await open(`${a.url}/servers/quiet/mcp`);
    expect((await quiet.listTools()).tools.map((t) => t.name)).toEqual(['only_here']);
    const all = await open(`${a.url}/mcp`);
    expect((await all.listTools()).tools.map((t) => t.name)).toEqual(['logs', 'ask']);
    await expect(all.callTool({ name: 'only_here', arguments: {} })).rejects.toThrow(/Unknown tool: only_here/);
  });

  test('completion/complete answers from the scope: prompt arguments and template variables', async () => {
    const alpha = await open(`${a.url}/servers/alpha/mcp`);
    expect(alpha.getServerCapabilities()).toMatchObject({ completions: {}, logging: {}, resources: { subscribe: true } });
    const cities = await alpha.complete({ ref: { type: 'ref/prompt', name: 'city' }, argument: { name: 'name', value: 'p' } });
    expect(cities.completion).toEqual({ values: ['paris', 'porto'], total: 2, hasMore: false });
    const withContext = await alpha.complete({
      ref: { type: 'ref/prompt', name: 'city' },
      argument: { name: 'name', value: 'l' },
      context: { arguments: { country: 'lisbon' } },
    });
    expect(withContext.completion.values).toEqual(['lisbon']);
    const ids = await alpha.complete({
      ref: { type: 'ref/resource', uri: 'memo://alpha/items/{id}' },
      argument: { name: 'id', value: '1' },
    });
    expect(ids.completion.values).toEqual(['10', '11']);
    const none = await alpha.complete({ ref: { type: 'ref/prompt', name: 'city' }, argument: { name: 'other', value: '' } });
    expect(none.completion.values).toEqual([]);
    // Another server's prompt does not exist here.
    await expect(alpha.complete({ ref: { type: 'ref/prompt', name: 'hidden' }, argument: { name: 'x', value: '' } })).rejects.toThrow(
      /Unknown prompt: hidden/,
    );
  });

  test('resources/subscribe: only the scope’s resources; resourceUpdated notifies the subscribers', async () => {
    const alpha = await open(`${a.url}/servers/alpha/mcp`);
    await expect(alpha.subscribeResource({ uri: 'memo://beta/secret' })).rejects.toThrow(/Resource not found/);
    await alpha.subscribeResource({ uri: 'memo://alpha/doc' });
    await alpha.subscribeResource({ uri: 'memo://alpha/items/7' });
    const updated: string[] = [];
    // memo://alpha/items/7 stays subscribed throughout: its notifications are markers, kept apart.
    // One session's notifications travel in order on its GET stream, so once a marker sent last has
    // arrived, anything sent before it has arrived too (or never will).
    const MARKER = 'memo://alpha/items/7';
    let markers = 0;
    alpha.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      if (n.params.uri === MARKER) markers++;
      else updated.push(n.params.uri);
    });
    const marked = async (): Promise<void> => {
      const seen = markers;
      shared.resourceUpdated('alpha', MARKER);
      await waitFor(() => markers > seen, { what: 'the marker notification' });
    };
    // The client opens its GET stream (where notifications unrelated to a request travel) after
    // initialize, with no event to hook: send markers until one arrives.
    await waitFor(() => (shared.resourceUpdated('alpha', MARKER), markers > 0), { intervalMs: 50, what: 'the GET stream' });
    shared.resourceUpdated('alpha', 'memo://alpha/doc');
    shared.resourceUpdated('alpha', 'memo://alpha/other');
    await marked();
    expect(updated).toEqual(['memo://alpha/doc']);
    await alpha.unsubscribeResource({ uri: 'memo://alpha/doc' });
    shared.resourceUpdated('alpha', 'memo://alpha/doc');
    await marked();
    expect(updated).toEqual(['memo://alpha/doc']);
  });

  test('ctx.log() honours the level the session set', async () => {
    const alpha = await open(`${a.url}/servers/alpha/mcp`);
    const logs: unknown[] = [];
    alpha.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params));
    await alpha.callTool({ name: 'logs', arguments: {} });
    expect(logs).toHaveLength(2);
    logs.length = 0;
    await alpha.setLoggingLevel('warning');
    await alpha.callTool({ name: 'logs', arguments: {} });
    expect(logs).toEqual([{ level: 'error', data: { problem: 'an error line' }, logger: 'alpha-logger' }]);
  });

  test('sampling and elicitation from inside a tool, with the client’s answers crossing workers', async () => {
    // Initialized on A; every later request (the answers included) is sent to B, which forwards.
    let sessionId = '';
    const transport = new StreamableHTTPClientTransport(new URL(`${a.url}/servers/alpha/mcp`), {
      fetch: (url, init) => {
        const target = sessionId ? String(url).replace(a.url, b.url) : String(url);
        return fetch(target, init);
      },
    });
    const client = new Client({ name: 'caps', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {} } });
    clients.push(client);
    client.setRequestHandler(CreateMessageRequestSchema, () => ({
      role: 'assistant',
      content: { type: 'text', text: 'sampled' },
      model: 'm',
    }));
    client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: { name: 'ada' } }));
    await client.connect(transport);
    sessionId = transport.sessionId!;
    const before = b.seen.length;
    const result = await client.callTool({ name: 'ask', arguments: {} });
    expect(result.content).toEqual([{ type: 'text', text: 'sampled / {"name":"ada"}' }]);
    // B received the call and both answers, and forwarded them to A.
    expect(b.seen.slice(before).filter((r) => r.method === 'POST' && !r.internal).length).toBeGreaterThanOrEqual(3);

    // A client without those capabilities gets an isError result; the tool's request is never sent.
    const plain = await open(`${a.url}/servers/alpha/mcp`);
    const refused = await plain.callTool({ name: 'ask', arguments: {} });
    expect(refused.isError).toBe(true);
    expect(JSON.stringify(refused.content)).toMatch(/does not support sampling/);
  });
});
