/**
 * A stdio upstream's sampling request says nothing of the call it belongs to: it goes to the
 * client of the one call in flight on the process, and is refused when several are (it is never
 * sent to a client it may not belong to). A real stdio MCP server, real SDK clients.
 */
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { createCatalog, type MemoryCatalog, newConnectionFetch, upstream } from '../../lib/index';
import { type RunningGateway, startGateway } from '../helpers/gateway';
import { deferred } from '../helpers/wait';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const text = (result: Record<string, unknown>) => (result.content as Array<{ text: string }>)[0]!.text;

/** The test fixture's stdio MCP server as an upstream: one process per call of this. */
const stdioUpstream = () =>
  upstream({ command: process.execPath, args: [path.resolve(__dirname, '../fixtures/stdio-upstream.mjs')], prefix: 'io_' }, quiet);

describe('sampling through a stdio upstream', () => {
  let gateway: RunningGateway;
  let catalog: MemoryCatalog;
  beforeAll(async () => {
    const part = stdioUpstream();
    catalog = createCatalog({ fed: { ...part } }, { logger: quiet });
    await part.upstreams[0]!.ready();
    gateway = await startGateway({ catalog });
  });
  afterAll(async () => {
    await gateway?.close();
    await catalog?.close();
  });

  /** A client of `on` (the suite's gateway by default) whose sampling answers are recorded in `asked`. */
  async function client(name: string, asked: string[], on: RunningGateway = gateway): Promise<Client> {
    const c = new Client({ name, version: '1' }, { capabilities: { sampling: {} } });
    c.setRequestHandler(CreateMessageRequestSchema, async () => {
      asked.push(name);
      return { role: 'assistant', model: 'm', content: { type: 'text', text: `from ${name}` } };
    });
    await c.connect(new StreamableHTTPClientTransport(new URL('/servers/fed/mcp', on.url), { fetch: newConnectionFetch() }));
    return c;
  }

  test('one call in flight: its own client is asked', async () => {
    const asked: string[] = [];
    const alice = await client('alice', asked);
    try {
      expect(text(await alice.callTool({ name: 'io_ask', arguments: {} }))).toBe('sampled: from alice');
      expect(asked).toEqual(['alice']);
    } finally {
      await alice.close();
    }
  });

  test('after a call ended without the upstream’s answer (cancelled), no question is sent to anyone on that process', async () => {
    // Its own gateway and process: the mark lasts as long as the connection.
    const part = stdioUpstream();
    const own = createCatalog({ fed: { ...part } }, { logger: quiet });
    await part.upstreams[0]!.ready();
    const other = await startGateway({ catalog: own });
    const asked: string[] = [];
    const [alice, bob] = [await client('alice', asked, other), await client('bob', asked, other)];
    try {
      // alice's call waits upstream for a second one that never comes; she gives up.
      const controller = new AbortController();
      const waiting = deferred();
      const held = alice.callTool({ name: 'io_ask', arguments: { together: 2 } }, undefined, {
        signal: controller.signal,
        onprogress: () => waiting.resolve(),
      });
      await waiting.promise; // the upstream runs it
      controller.abort(new Error('alice gave up'));
      await expect(held).rejects.toThrow();
      // bob's call is the only one in flight, but alice's may still run upstream: his question is refused.
      expect(text(await bob.callTool({ name: 'io_ask', arguments: {} }))).toMatch(/^refused: /);
      expect(asked).toEqual([]);
    } finally {
      await alice.close();
      await bob.close();
      await other.close();
      await own.close();
    }
  });

  test('two calls in flight: both refused, no client asked', async () => {
    const asked: string[] = [];
    const [alice, bob] = [await client('alice', asked), await client('bob', asked)];
    try {
      const results = await Promise.all([
        alice.callTool({ name: 'io_ask', arguments: { together: 2 } }),
        bob.callTool({ name: 'io_ask', arguments: { together: 2 } }),
      ]);
      for (const result of results)
        expect(text(result)).toMatch(/^refused: .*relayed only on a tool call's stream, or over stdio while one call is in flight/);
      expect(asked).toEqual([]);
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});
