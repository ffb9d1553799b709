/**
 * An upstream's own connections: a worker's lists are fetched with the gateway's credentials even
 * when the change notice came on a caller's stream (forwardAuthorization); a connection whose first
 * listing failed is closed before the next try (each initialize gets its DELETE) and the warning is
 * said once; `catalog.close()` stops the retries of an upstream that never answered. Real upstream
 * MCP servers over HTTP (the SDK's transport), fake timers only where a retry is scheduled.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createCatalog, MemoryStore, newConnectionFetch, upstream } from '../../lib/index';
import { startGateway } from '../helpers/gateway';
import { freePort } from '../helpers/ports';
import { keys } from '../helpers/tokens';
import { waitFor } from '../helpers/wait';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/** An upstream recording `<METHOD> <rpc method> <authorization>`; `failLists`: its tools/list errors. */
async function recordingUpstream(options: { failLists?: boolean } = {}) {
  const seen: string[] = [];
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    seen.push(`${req.method} ${body?.method ?? ''} ${req.headers.authorization ?? ''}`.trim());
    if (options.failLists && body?.method === 'tools/list') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ jsonrpc: '2.0', id: body.id, error: { code: -32603, message: 'warming up' } }));
    }
    const sid = req.headers['mcp-session-id'];
    let transport = typeof sid === 'string' ? transports.get(sid) : undefined;
    if (!transport) {
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        onsessioninitialized: (id) => void transports.set(id, created),
      });
      transport = created;
      const mcp = new McpServer({ name: 'up', version: '1' }, { capabilities: { tools: { listChanged: true } } });
      // Says its list changed on the call's own stream, before answering.
      mcp.registerTool('poke', { inputSchema: {} }, async (_args, extra) => {
        await extra.sendNotification({ method: 'notifications/tools/list_changed' });
        return { content: [{ type: 'text', text: 'ok' }] };
      });
      await mcp.connect(transport);
    }
    await transport.handleRequest(req, res, body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    seen,
    count: (line: string) => seen.filter((l) => l.startsWith(line)).length,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

test.each(['per-client', 'shared'] as const)(
  'a list change said on a call’s stream is listed again without the caller’s token (%s)',
  async (sessions) => {
    const up = await recordingUpstream();
    const k = await keys();
    const part = upstream({ url: up.url, name: 'fwd', prefix: 'fwd_', forwardAuthorization: true, sessions }, quiet);
    const catalog = createCatalog({ fed: { ...part } }, { logger: quiet });
    await part.upstreams[0]!.ready();
    const gateway = await startGateway({ store: new MemoryStore(), catalog, auth: k.auth() });
    const token = await k.mint('alice');
    const client = new Client({ name: 'c', version: '1' });
    try {
      await client.connect(
        new StreamableHTTPClientTransport(new URL('/servers/fed/mcp', gateway.url), {
          fetch: newConnectionFetch(),
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
      const lists = up.count('POST tools/list');
      await client.callTool({ name: 'fwd_poke', arguments: {} });
      expect(up.seen).toContain(`POST tools/call Bearer ${token}`);
      await waitFor(() => up.count('POST tools/list') > lists, { what: 'the relisting' });
      expect(up.seen.filter((line) => line.startsWith('POST tools/list'))).toEqual(Array(lists + 1).fill('POST tools/list'));
    } finally {
      await client.close();
      await gateway.close();
      await catalog.close();
      await up.close();
    }
  },
);

test('a connection whose first listing failed is closed before the next try; the warning is said once', async () => {
  const up = await recordingUpstream({ failLists: true });
  const warnings: string[] = [];
  const part = upstream(
    { url: up.url, name: 'warming', breakerCooldownMs: 1000 },
    { ...quiet, warn: (m: string) => void warnings.push(m) },
  );
  const catalog = createCatalog({ fed: { ...part } }, { logger: quiet });
  try {
    await waitFor(() => up.count('POST initialize') >= 3, { what: 'three tries' });
  } finally {
    await catalog.close();
  }
  // Every connection opened is ended: one DELETE per initialize (the last one's may follow close()).
  await waitFor(() => up.count('DELETE') === up.count('POST initialize'), { what: 'a DELETE for every initialize' });
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(/upstream warming is unavailable: .*warming up.*left out until it answers/);
  await up.close();
});

test('catalog.close() stops the retries of an upstream that never answered', async () => {
  const port = await freePort();
  jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
  try {
    const part = upstream({ url: `http://127.0.0.1:${port}/mcp`, name: 'down' }, quiet);
    const catalog = createCatalog({ fed: { ...part } }, { logger: quiet });
    // Refused: once ready() resolves, the next try is scheduled (a fake timer: it never fires here).
    await part.upstreams[0]!.ready();
    const pending = jest.getTimerCount();
    expect(pending).toBeGreaterThanOrEqual(1);
    await catalog.close();
    expect(jest.getTimerCount()).toBe(pending - 1);
  } finally {
    jest.useRealTimers();
  }
});
