/**
 * Virtual servers made of real upstream MCP servers: the SDK's own server over Streamable HTTP
 * and a stdio server process, federated next to local tools, driven by the SDK client through
 * two gateways (requests crossing workers). Lists, calls, resources and prompts reach the
 * upstream; scope holds; progress and cancellation pass through; the upstream's list changes
 * reach the sessions; a failure is a JSON-RPC error naming the upstream; an unreachable one is
 * left out with a log line; the stdio process ends with the catalog.
 */
import net from 'node:net';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { createCatalog, type MemoryCatalog, MemoryStore, newConnectionFetch, type Upstream, upstream } from '../../lib/index';
import { type RunningGateway, rpc, startGateway } from '../helpers/gateway';
import { freePort } from '../helpers/ports';
import { startUpstreamServer, type UpstreamServer } from '../helpers/upstream-server';
import { deferred, fakeClockOnly, waitFor } from '../helpers/wait';

const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });
const echo = {
  name: 'echo',
  inputSchema: { type: 'object' as const, properties: { t: { type: 'string' } } },
  handler: (a: Record<string, unknown>) => text(String(a.t)),
};
const quiet = () => {
  const warnings: string[] = [];
  return {
    warnings,
    logger: { info: () => {}, warn: (m: unknown) => void warnings.push(String(m)), error: (m: unknown) => void warnings.push(String(m)) },
  };
};

function federated(url: string, logger = quiet().logger): { catalog: MemoryCatalog; source: Upstream } {
  const part = upstream({ url, prefix: 'up_', timeoutMs: 5_000 }, logger);
  const catalog = createCatalog({ fed: { ...part, tools: [echo] }, other: { tools: [echo] } }, { logger });
  return { catalog, source: part.upstreams[0]! };
}

async function connect(gateway: RunningGateway, server: string): Promise<Client> {
  const client = new Client({ name: 'downstream', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`/servers/${server}/mcp`, gateway.url), { fetch: newConnectionFetch() }));
  return client;
}

describe('upstream over Streamable HTTP', () => {
  let up: UpstreamServer;
  let a: RunningGateway;
  let b: RunningGateway;
  let catalogs: MemoryCatalog[];
  beforeAll(async () => {
    up = await startUpstreamServer();
    const store = new MemoryStore();
    // Each worker has its own catalog and its own upstream connection, as separate processes would.
    const [first, second] = [federated(up.url), federated(up.url)];
    catalogs = [first.catalog, second.catalog];
    await Promise.all([first.source.ready(), second.source.ready()]);
    a = await startGateway({ store, catalog: first.catalog });
    b = await startGateway({ store, catalog: second.catalog });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    for (const catalog of catalogs ?? []) await catalog.close();
    await up?.close();
  });

  test('lists and calls: local and upstream items together, upstream ones reached through a forward; scope holds', async () => {
    const client = await connect(a, 'fed');
    try {
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['echo', 'up_add', 'up_broken', 'up_slow']);
      const sum = await client.callTool({ name: 'up_add', arguments: { a: 2, b: 3 } });
      expect((sum.content as Array<{ text: string }>)[0]!.text).toBe('5');
      expect(up.log).toContain('add 2+3');
      // The same session's call through the other worker: forwarded to A, which calls its upstream.
      const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId!;
      const forwarded = await rpc(
        `${b.url}/servers/fed/mcp`,
        { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'up_add', arguments: { a: 4, b: 5 } } },
        { 'mcp-session-id': sessionId },
      );
      expect(forwarded.headers['mcp-affinity-forwarded']).toBe('true');
      expect(forwarded.body).toContain('"text":"9"');
      const readme = await client.readResource({ uri: 'up://readme' });
      expect((readme.contents[0] as { text: string }).text).toBe('upstream readme');
      const prompt = await client.getPrompt({ name: 'up_hello', arguments: { who: 'ada' } });
      expect((prompt.messages[0]!.content as { text: string }).text).toBe('Hello ada from upstream');
    } finally {
      await client.close();
    }
    const other = await connect(b, 'other');
    try {
      expect((await other.listTools()).tools.map((t) => t.name)).toEqual(['echo']);
      const before = up.log.length;
      await expect(other.callTool({ name: 'up_add', arguments: { a: 1, b: 1 } })).rejects.toThrow(/Unknown tool/);
      expect(up.log.length).toBe(before);
    } finally {
      await other.close();
    }
  });

  test('progress comes back under the client’s own token; the client’s cancellation cancels the upstream call', async () => {
    const client = await connect(b, 'fed');
    try {
      const progressed = deferred<{ progress: number; total?: number }>();
      const abort = new AbortController();
      const call = client
        .callTool({ name: 'up_slow', arguments: {} }, undefined, { signal: abort.signal, onprogress: (p) => progressed.resolve(p) })
        .catch((error: unknown) => error);
      expect(await progressed.promise).toMatchObject({ progress: 1, total: 2 });
      const cancelled = up.nextCancel();
      abort.abort();
      await call;
      await cancelled;
      expect(up.log).toContain('cancelled slow');
    } finally {
      await client.close();
    }
  });

  test('an upstream tool’s own error result passes through as it is', async () => {
    const client = await connect(a, 'fed');
    try {
      const result = await client.callTool({ name: 'up_broken', arguments: {} });
      expect(result.isError).toBe(true);
      expect((result.content as Array<{ text: string }>)[0]!.text).toContain('the upstream refuses');
    } finally {
      await client.close();
    }
  });

  test('the upstream’s list change reaches a session, and the new tool is listed', async () => {
    const client = await connect(a, 'fed');
    try {
      const changed = deferred();
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => changed.resolve());
      // The session's GET stream is open once the client has listed once.
      await client.listTools();
      await waitFor(() => a.router.worker.streams.inFlight > 0, { what: 'the GET stream' });
      up.addTool('fresh');
      await changed.promise;
      await waitFor(async () => (await client.listTools()).tools.some((t) => t.name === 'up_fresh'), { what: 'up_fresh listed' });
    } finally {
      await client.close();
    }
  });
});

describe('upstream over stdio', () => {
  test('one process per worker, listed and called; closing the catalog ends the process', async () => {
    const part = upstream({ command: process.execPath, args: [path.resolve(__dirname, '../fixtures/stdio-upstream.mjs')], prefix: 'io_' });
    const catalog = createCatalog({ local: { ...part } });
    await part.upstreams[0]!.ready();
    const gateway = await startGateway({ catalog });
    try {
      const client = await connect(gateway, 'local');
      const result = await client.callTool({ name: 'io_pid', arguments: {} });
      const pid = Number((result.content as Array<{ text: string }>)[0]!.text);
      expect(pid).not.toBe(process.pid);
      await client.callTool({ name: 'io_pid', arguments: {} }); // the same process, not one per call
      await client.close();
      await catalog.close();
      await waitFor(
        () => {
          try {
            process.kill(pid, 0);
            return false;
          } catch {
            return true;
          }
        },
        { what: 'the stdio upstream to exit' },
      );
    } finally {
      await gateway.close();
      await catalog.close();
    }
  });
});

describe('an upstream that restarts', () => {
  test('our session on it is gone (404): a new connection, and the call goes through', async () => {
    const first = await startUpstreamServer();
    const port = Number(new URL(first.url).port);
    const { warnings, logger } = quiet();
    const { catalog, source } = federated(first.url, logger);
    await source.ready();
    const gateway = await startGateway({ catalog });
    let second: UpstreamServer | undefined;
    try {
      const client = await connect(gateway, 'fed');
      expect((await client.callTool({ name: 'up_add', arguments: { a: 1, b: 1 } })).isError).toBeFalsy();
      await first.close();
      second = await startUpstreamServer(port); // the same address, no memory of our session
      const sum = await client.callTool({ name: 'up_add', arguments: { a: 20, b: 22 } });
      expect((sum.content as Array<{ text: string }>)[0]!.text).toBe('42');
      expect(second.log).toEqual(['add 20+22']);
      expect(warnings.join('\n')).toMatch(/lost our session/);
      await client.close();
    } finally {
      await gateway.close();
      await catalog.close();
      await second?.close();
    }
  });
});

describe('bounded failure', () => {
  afterEach(() => jest.useRealTimers());

  test('an answer over maxAnswerBytes is refused, naming the upstream', async () => {
    const up = await startUpstreamServer();
    const part = upstream({ url: up.url, prefix: 'up_', maxAnswerBytes: 10 }, quiet().logger);
    const catalog = createCatalog({ fed: { ...part } }, { logger: quiet().logger });
    await part.upstreams[0]!.ready();
    const gateway = await startGateway({ catalog });
    try {
      const client = await connect(gateway, 'fed');
      await expect(client.callTool({ name: 'up_add', arguments: { a: 1, b: 2 } })).rejects.toThrow(
        /Upstream .*: tools\/call add: an answer of \d+ bytes, over maxAnswerBytes \(10\)/,
      );
      await client.close();
    } finally {
      await gateway.close();
      await catalog.close();
      await up.close();
    }
  });

  test('a dead upstream opens the circuit: calls fail at once without reaching it, until the cooldown lets one try', async () => {
    const up = await startUpstreamServer();
    const port = Number(new URL(up.url).port);
    const part = upstream({ url: up.url, prefix: 'up_', breakerFailures: 2, breakerCooldownMs: 60_000 }, quiet().logger);
    const catalog = createCatalog({ fed: { ...part } }, { logger: quiet().logger });
    await part.upstreams[0]!.ready();
    const gateway = await startGateway({ catalog });
    // The upstream dies; on its port, something that refuses every request (and counts the POSTs).
    await up.close();
    let posts = 0;
    const sockets = new Set<net.Socket>();
    const dead = net.createServer((socket) => {
      sockets.add(socket);
      socket.once('data', (chunk) => {
        if (chunk.toString('latin1').startsWith('POST')) posts++;
        socket.destroy();
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => dead.listen(port, '127.0.0.1', resolve));
    try {
      const client = await connect(gateway, 'fed');
      const call = () => client.callTool({ name: 'up_add', arguments: { a: 1, b: 2 } });
      await expect(call()).rejects.toThrow(/Upstream/);
      await expect(call()).rejects.toThrow(/Upstream/);
      const reached = posts;
      expect(reached).toBeGreaterThanOrEqual(2);
      await expect(call()).rejects.toThrow(/not tried, 2 failures in a row/);
      expect(posts).toBe(reached);
      // After the cooldown (only the clock moves), one call tries the upstream again.
      fakeClockOnly(Date.now() + 60_001);
      await expect(call()).rejects.toThrow(/Upstream/);
      expect(posts).toBeGreaterThan(reached);
      jest.useRealTimers();
      await client.close();
    } finally {
      jest.useRealTimers();
      await gateway.close();
      await catalog.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => dead.close(() => resolve()));
    }
  });
});

describe('an upstream that goes away', () => {
  test('a call is a JSON-RPC error naming the upstream, not a hang and not a 5xx', async () => {
    const gone = await startUpstreamServer();
    const { catalog, source } = federated(gone.url);
    await source.ready();
    const gateway = await startGateway({ catalog });
    try {
      const client = await connect(gateway, 'fed');
      await gone.close();
      await expect(client.callTool({ name: 'up_add', arguments: { a: 1, b: 2 } })).rejects.toThrow(
        /Upstream http:\/\/127\.0\.0\.1:\d+\/mcp: tools\/call add: /,
      );
      await client.close();
    } finally {
      await gateway.close();
      await catalog.close();
    }
  });
});

describe('an unreachable upstream, and bad options', () => {
  test('its items are left out, with a log line; the local ones are served', async () => {
    const { warnings, logger } = quiet();
    const { catalog, source } = federated(`http://127.0.0.1:${await freePort()}/mcp`, logger);
    await source.ready();
    expect(warnings.join('\n')).toMatch(/upstream http:\/\/127\.0\.0\.1:\d+\/mcp is unavailable/);
    expect(catalog.listTools({ kind: 'server', serverId: 'fed' }).map((t) => t.name)).toEqual(['echo']);
    await catalog.close();
  });

  test('misconfiguration throws at creation, naming the option', () => {
    expect(() => upstream({})).toThrow(/url.*exactly one of url/);
    expect(() => upstream({ url: 'ftp://x/mcp' })).toThrow(/url.*http\(s\) URL/);
    expect(() => upstream({ url: 'http://x/mcp', prefix: 'a b' })).toThrow(/prefix/);
    expect(() => upstream({ url: 'http://x/mcp', timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => upstream({ url: 'http://x/mcp', urll: 1 } as never)).toThrow(/urll/);
  });
});
