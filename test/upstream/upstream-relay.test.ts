/**
 * Everything passes through an upstream, both ways, across the hop: the upstream's sampling and
 * elicitation requests reach the downstream client, whose answer, landing on another worker, goes
 * back to the upstream; its log messages respect the session's level (and the level reaches the
 * upstream session); resource subscriptions and updates pass through; its list changes reach the
 * sessions of every worker. Real SDK upstream and downstream clients, two gateways, one store.
 */

import http from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { createCatalog, type MemoryCatalog, MemoryStore, newConnectionFetch, upstream } from '../../lib/index';
import { ACCEPT, type RunningGateway, rpc, startGateway } from '../helpers/gateway';
import { startUpstreamServer, type UpstreamServer } from '../helpers/upstream-server';
import { deferred, waitFor } from '../helpers/wait';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const textOf = (result: object) => (result as { content: Array<{ text: string }> }).content[0]!.text;
const isAnswer = (body: unknown) => typeof body === 'string' && !body.includes('"method"');

describe('through an upstream, both ways', () => {
  let up: UpstreamServer;
  let store: MemoryStore;
  let a: RunningGateway;
  let b: RunningGateway;
  const catalogs: MemoryCatalog[] = [];
  beforeAll(async () => {
    up = await startUpstreamServer(0, { sessionTools: true });
    store = new MemoryStore();
    const gateways: RunningGateway[] = [];
    for (let i = 0; i < 2; i++) {
      const part = upstream({ url: up.url, prefix: 'up_', timeoutMs: 5_000 }, quiet);
      const catalog = createCatalog({ fed: { ...part } }, { logger: quiet });
      catalogs.push(catalog);
      await part.upstreams[0]!.ready();
      gateways.push(await startGateway({ store, catalog }));
    }
    [a, b] = gateways as [RunningGateway, RunningGateway];
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    for (const catalog of catalogs) await catalog.close();
    await store?.close();
    await up?.close();
  });

  /**
   * A client of a's session with sampling and elicitation; its answers to server requests (POSTs
   * carrying only a JSON-RPC response) go to b, which must forward them to a, the owner.
   */
  async function connect(capabilities: object = { sampling: {}, elicitation: {} }): Promise<Client> {
    const fetchNew = newConnectionFetch();
    const client = new Client({ name: 'downstream', version: '1' }, { capabilities });
    const transport = new StreamableHTTPClientTransport(new URL(`${a.url}/servers/fed/mcp`), {
      fetch: (input, init) => {
        const url = String(input instanceof Request ? input.url : input);
        return fetchNew(isAnswer(init?.body) ? url.replace(a.url, b.url) : url, init);
      },
    });
    await client.connect(transport);
    return client;
  }

  test('sampling: the upstream asks, the downstream client answers through the other worker, the upstream gets it', async () => {
    const client = await connect();
    try {
      const asked = deferred<string>();
      client.setRequestHandler(CreateMessageRequestSchema, (request) => {
        asked.resolve((request.params.messages[0]!.content as { text: string }).text);
        return { model: 'test-model', role: 'assistant', content: { type: 'text', text: 'forty-two' } };
      });
      const publicAtB = b.seen.filter((s) => !s.internal).length;
      const internalAtA = a.seen.filter((s) => s.internal).length;
      const result = await client.callTool({ name: 'up_sample', arguments: { prompt: 'the answer?' } });
      expect(await asked.promise).toBe('the answer?');
      expect(textOf(result)).toBe('the model said: forty-two');
      expect(up.log).toContain('sampled the answer?');
      // The answer landed on b and was forwarded to a.
      expect(b.seen.filter((s) => !s.internal).length).toBeGreaterThan(publicAtB);
      expect(a.seen.filter((s) => s.internal).length).toBeGreaterThan(internalAtA);
    } finally {
      await client.close();
    }
  });

  test("raw: the sampling request arrives on the tool call's own stream; its answer, POSTed to the other worker, finishes that stream", async () => {
    const url = `${a.url}/servers/fed/mcp`;
    const init = await rpc(url, {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: { sampling: {} }, clientInfo: { name: 'raw', version: '1' } },
    });
    const sessionId = String(init.headers['mcp-session-id']);
    const headers = { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' };
    expect((await rpc(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).status).toBe(202);
    // The tool call's POST, read as it streams.
    const messages: any[] = [];
    const asked = deferred<any>();
    const ended = deferred();
    const call = http.request(url, {
      method: 'POST',
      agent: false,
      headers: { ...headers, 'content-type': 'application/json', accept: ACCEPT },
    });
    call.on('response', (res) => {
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
          const data = buffered
            .slice(0, end)
            .split('\n')
            .find((l) => l.startsWith('data:'));
          buffered = buffered.slice(end + 2);
          if (!data) continue;
          const message = JSON.parse(data.slice(5));
          messages.push(message);
          if (message.method === 'sampling/createMessage') asked.resolve(message);
        }
      });
      res.on('end', () => ended.resolve());
    });
    call.end(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'up_sample', arguments: { prompt: 'raw?' } } }));
    const question = await asked.promise;
    expect(question.params.messages[0].content.text).toBe('raw?');
    const answer = {
      jsonrpc: '2.0',
      id: question.id,
      result: { model: 'm', role: 'assistant', content: { type: 'text', text: 'raw answer' } },
    };
    const posted = await rpc(`${b.url}/servers/fed/mcp`, answer, headers);
    expect(posted.status).toBe(202);
    expect(posted.headers['mcp-affinity-forwarded']).toBe('true');
    await ended.promise;
    expect(messages.at(-1)).toMatchObject({ id: 2, result: { content: [{ type: 'text', text: 'the model said: raw answer' }] } });
  });

  test('elicitation: the same way back', async () => {
    const client = await connect();
    try {
      client.setRequestHandler(ElicitRequestSchema, (request) => {
        expect(request.params.message).toBe('Your name?');
        return { action: 'accept', content: { name: 'Ada' } };
      });
      expect(textOf(await client.callTool({ name: 'up_elicit' }))).toBe('accept: Ada');
    } finally {
      await client.close();
    }
  });

  test('a client without the sampling capability: its upstream session neither declares nor answers it', async () => {
    const client = await connect({});
    try {
      const result = await client.callTool({ name: 'up_sample', arguments: { prompt: 'x' } });
      // The upstream asked anyway (it does not enforce capabilities); our client of it has no handler.
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/Method not found/);
      expect(up.log).not.toContain('sampled x');
    } finally {
      await client.close();
    }
  });

  test("log messages respect the session's level, and the level reaches the upstream session", async () => {
    const client = await connect();
    try {
      const logs: string[] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(String(n.params.data)));
      await client.setLoggingLevel('error');
      const session = textOf(await client.callTool({ name: 'up_whoami' }));
      expect(up.log).toContain(`level error for ${session}`);
      await client.callTool({ name: 'up_chatty' });
      await waitFor(() => logs.length > 0, { what: 'the error line' });
      expect(logs).toEqual(['a error line']);
      await client.setLoggingLevel('debug');
      await waitFor(() => up.log.includes(`level debug for ${session}`), { what: 'the new level upstream' });
      logs.length = 0;
      await client.callTool({ name: 'up_chatty' });
      await waitFor(() => logs.length > 1, { what: 'both lines' });
      expect(logs).toEqual(['a debug line', 'a error line']);
    } finally {
      await client.close();
    }
  });

  test("resource subscriptions pass through: the session's upstream session subscribes, and its updates reach the session", async () => {
    const client = await connect();
    try {
      const updated = deferred<string>();
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updated.resolve(n.params.uri));
      await client.subscribeResource({ uri: 'up://counter' });
      const session = textOf(await client.callTool({ name: 'up_whoami' }));
      expect([...(up.subscribed.get('up://counter') ?? [])]).toEqual([session]);
      await waitFor(() => a.router.worker.streams.inFlight > 0, { what: 'the GET stream' });
      await up.touch('up://counter');
      expect(await updated.promise).toBe('up://counter');
      await client.unsubscribeResource({ uri: 'up://counter' });
      expect(up.subscribed.get('up://counter')?.has(session)).toBe(false);
    } finally {
      await client.close();
    }
  });

  test("across the hop, the upstream request still carries the client's trace (a child of the hop's span)", async () => {
    const client = await connect();
    try {
      const traceId = '0af7651916cd43dd8448eb211c80319c';
      const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId!;
      const body = { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'up_whoami', arguments: {} } };
      const before = up.traceparents.length;
      const forwarded = await rpc(`${b.url}/servers/fed/mcp`, body, {
        'mcp-session-id': sessionId,
        traceparent: `00-${traceId}-b7ad6b7169203331-01`,
      });
      expect(forwarded.headers['mcp-affinity-forwarded']).toBe('true');
      const sent = up.traceparents.slice(before);
      expect(sent.length).toBeGreaterThan(0);
      for (const traceparent of sent) expect(traceparent).toMatch(new RegExp(`^00-${traceId}-(?!b7ad6b7169203331)[0-9a-f]{16}-01$`));
    } finally {
      await client.close();
    }
  });

  test('the upstream’s list change reaches the sessions of both workers', async () => {
    const clients = [await connect(), await connect()];
    const onB = new Client({ name: 'downstream', version: '1' });
    await onB.connect(new StreamableHTTPClientTransport(new URL(`${b.url}/servers/fed/mcp`), { fetch: newConnectionFetch() }));
    clients.push(onB);
    try {
      const heard = clients.map((client) => {
        const changed = deferred();
        client.setNotificationHandler(ToolListChangedNotificationSchema, () => changed.resolve());
        return changed.promise;
      });
      for (const client of clients) await client.listTools();
      await waitFor(() => a.router.worker.streams.inFlight >= 2 && b.router.worker.streams.inFlight >= 1, { what: 'the GET streams' });
      up.addTool('fresh');
      await Promise.all(heard);
      await waitFor(async () => (await onB.listTools()).tools.some((t) => t.name === 'up_fresh'), { what: 'up_fresh on b' });
    } finally {
      for (const client of clients) await client.close();
    }
  });
});
