/**
 * Bounded failure, with upstreams that misbehave for real: one killed and restarted mid-session,
 * one that never answers, one that answers garbage (a raw HTTP server). Each is a JSON-RPC error
 * naming the upstream (an HTTP 200 of the gateway, never a 5xx or a hang), bounded by timeoutMs
 * (kept small here: no assertion is about time); an upstream that cannot be listed is left out
 * with a log line. (test/upstream/upstream.test.ts has the rest: gone, restarted with an
 * immediate retry, unreachable port, breaker, maxAnswerBytes.)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createCatalog, newConnectionFetch, type Upstream, upstream } from '../../lib/index';
import { openSession, type RunningGateway, rpc, startGateway } from '../helpers/gateway';
import { freePort } from '../helpers/ports';
import { startUpstreamServer, type UpstreamServer } from '../helpers/upstream-server';
import { waitFor } from '../helpers/wait';

const recorder = () => {
  const lines: string[] = [];
  const log = (m: unknown) => void lines.push(String(m));
  return { lines, logger: { info: () => {}, warn: log, error: log } };
};

async function gatewayFor(options: Parameters<typeof upstream>[0], logger = recorder().logger) {
  const part = upstream({ prefix: 'up_', ...options }, logger);
  const catalog = createCatalog({ fed: { ...part, tools: [] } }, { logger });
  await (part.upstreams[0] as Upstream).ready();
  const gateway = await startGateway({ catalog });
  return {
    gateway,
    catalog,
    close: async () => {
      await gateway.close();
      await catalog.close();
    },
  };
}

async function connect(gateway: RunningGateway): Promise<Client> {
  const client = new Client({ name: 'downstream', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL('/servers/fed/mcp', gateway.url), { fetch: newConnectionFetch() }));
  return client;
}

/** A tools/call over raw HTTP: the gateway's status and the JSON-RPC answer. */
async function rawCall(gateway: RunningGateway, name: string, args: Record<string, unknown> = {}) {
  const url = `${gateway.url}/servers/fed/mcp`;
  const sessionId = await openSession(url);
  const answer = await rpc(
    url,
    { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name, arguments: args } },
    { 'mcp-session-id': sessionId },
  );
  return { status: answer.status, message: answer.messages().find((m) => m.id === 9) };
}

/**
 * A hand-written upstream on a raw HTTP server: it answers initialize and tools/list properly
 * (one tool, `t`), and hands every tools/call to `onCall`, which may answer anything.
 */
async function rawUpstream(onCall: (message: any, res: http.ServerResponse) => void) {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST') return void res.writeHead(405).end();
      const message = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const json = (result: unknown) =>
        res
          .writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'raw-session' })
          .end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }));
      if (message.id === undefined) return void res.writeHead(202).end();
      if (message.method === 'initialize') {
        return json({
          protocolVersion: message.params.protocolVersion,
          capabilities: { tools: {} },
          serverInfo: { name: 'raw', version: '1' },
        });
      }
      if (message.method === 'tools/list') return json({ tools: [{ name: 't', inputSchema: { type: 'object' } }] });
      onCall(message, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('an upstream killed and restarted mid-session', () => {
  test('while it is down a call is a JSON-RPC error naming it; once it is back the same session goes on', async () => {
    let up: UpstreamServer = await startUpstreamServer();
    const port = Number(new URL(up.url).port);
    const { lines, logger } = recorder();
    const fed = await gatewayFor({ url: up.url, name: 'calc' }, logger);
    const client = await connect(fed.gateway);
    try {
      expect((await client.callTool({ name: 'up_add', arguments: { a: 1, b: 2 } })).content).toEqual([{ type: 'text', text: '3' }]);
      await up.close(); // killed
      await expect(client.callTool({ name: 'up_add', arguments: { a: 2, b: 2 } })).rejects.toThrow(
        /Upstream calc: tools\/call add: .*fetch failed/,
      );
      up = await startUpstreamServer(port); // restarted: no memory of the gateway's session
      const sum = await client.callTool({ name: 'up_add', arguments: { a: 20, b: 22 } });
      expect(sum.content).toEqual([{ type: 'text', text: '42' }]);
      expect(up.log).toEqual(['add 20+22']);
      expect(lines.join('\n')).toMatch(/upstream calc lost our session/);
      // The downstream session is the one it was all along.
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['up_add', 'up_broken', 'up_slow']);
    } finally {
      await client.close();
      await fed.close();
      await up.close();
    }
  });
});

describe('an upstream down when the gateway starts', () => {
  // Tried again, backing off (from 250 ms, up to breakerCooldownMs), until it answers.
  test('joins the lists once it comes up', async () => {
    const port = await freePort();
    const { logger } = recorder();
    const part = upstream({ url: `http://127.0.0.1:${port}/mcp`, name: 'late', prefix: 'up_', timeoutMs: 500 }, logger);
    const catalog = createCatalog({ fed: { ...part, tools: [] } }, { logger });
    await (part.upstreams[0] as Upstream).ready();
    expect(catalog.listTools({ kind: 'server', serverId: 'fed' })).toEqual([]);
    const up = await startUpstreamServer(port);
    try {
      await waitFor(() => catalog.listTools({ kind: 'server', serverId: 'fed' }).length > 0, {
        what: 'the late upstream listed',
        timeoutMs: 3000,
      });
    } finally {
      await catalog.close();
      await up.close();
    }
  });
});

describe('an upstream that never answers', () => {
  test('a call is a JSON-RPC error naming it once timeoutMs passes (HTTP 200, not a 5xx), and the upstream is told to cancel', async () => {
    const up = await startUpstreamServer(); // its `slow` tool answers only when cancelled
    const fed = await gatewayFor({ url: up.url, name: 'sleepy', timeoutMs: 300 });
    try {
      const cancelled = up.nextCancel();
      const { status, message } = await rawCall(fed.gateway, 'up_slow');
      expect(status).toBe(200);
      expect(message.error.code).toBe(-32603);
      expect(message.error.message).toMatch(/Upstream sleepy: tools\/call slow: no answer within 300 ms$/);
      await cancelled;
      expect(up.log).toContain('cancelled slow');
    } finally {
      await fed.close();
      await up.close();
    }
  });

  test('one that accepts connections and never says a word is left out of the lists, with a log line', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => void sockets.add(socket.on('error', () => undefined)));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { lines, logger } = recorder();
    const part = upstream({ url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/mcp`, name: 'mute', timeoutMs: 200 }, logger);
    const catalog = createCatalog({ fed: { ...part, tools: [] }, other: { tools: [] } }, { logger });
    try {
      await (part.upstreams[0] as Upstream).ready();
      expect(lines.join('\n')).toMatch(/upstream mute is unavailable: .*; its items are left out/);
      expect(catalog.listTools({ kind: 'server', serverId: 'fed' })).toEqual([]);
      const gateway = await startGateway({ catalog });
      try {
        const url = `${gateway.url}/servers/fed/mcp`;
        const sessionId = await openSession(url);
        const list = await rpc(url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-session-id': sessionId });
        expect(list.status).toBe(200);
        expect(list.messages()[0].result.tools).toEqual([]);
      } finally {
        await gateway.close();
      }
    } finally {
      await catalog.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('an upstream that sends malformed JSON', () => {
  test('a JSON answer that does not parse: a JSON-RPC error naming the upstream, HTTP 200', async () => {
    const up = await rawUpstream((_message, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":'),
    );
    const fed = await gatewayFor({ url: up.url, name: 'garbled', timeoutMs: 2000 });
    try {
      const { status, message } = await rawCall(fed.gateway, 'up_t');
      expect(status).toBe(200);
      expect(message.error.code).toBe(-32603);
      expect(message.error.message).toMatch(/Upstream garbled: tools\/call t: SyntaxError: .*JSON/);
    } finally {
      await fed.close();
      await up.close();
    }
  });

  test('an SSE event that does not parse: the call still ends, a JSON-RPC error naming the upstream within timeoutMs', async () => {
    const up = await rawUpstream((_message, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: message\ndata: {"jsonrpc": nope\n\n'); // and nothing more
    });
    const fed = await gatewayFor({ url: up.url, name: 'garbled', timeoutMs: 300 });
    try {
      const { status, message } = await rawCall(fed.gateway, 'up_t');
      expect(status).toBe(200);
      expect(message.error.code).toBe(-32603);
      expect(message.error.message).toMatch(/Upstream garbled: tools\/call t: no answer within 300 ms$/);
    } finally {
      await fed.close();
      await up.close();
    }
  });

  test('garbage in answer to initialize: left out of the lists, with a log line naming it', async () => {
    const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('<html>not mcp</html>'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { lines, logger } = recorder();
    const part = upstream({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, name: 'html', timeoutMs: 2000 }, logger);
    const catalog = createCatalog({ fed: { ...part, tools: [] } }, { logger });
    try {
      await (part.upstreams[0] as Upstream).ready();
      expect(lines.join('\n')).toMatch(/upstream html is unavailable: .*; its items are left out/);
      expect(catalog.listTools({ kind: 'server', serverId: 'fed' })).toEqual([]);
    } finally {
      await catalog.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('the last progress before the result', () => {
  // Progress and result in one read (usual over stdio; this stdio server writes both in one
  // write): the progress is relayed, in order, before the result is answered.
  test('a progress event that arrives together with the result still reaches the client', async () => {
    const fed = await gatewayFor({
      command: process.execPath,
      args: [path.join(__dirname, '../fixtures/stdio-progress-upstream.mjs')],
      name: 'quick',
    });
    const client = await connect(fed.gateway);
    try {
      const progress: number[] = [];
      const result = await client.callTool({ name: 'up_t', arguments: {} }, undefined, { onprogress: (p) => progress.push(p.progress) });
      expect(result.content).toEqual([{ type: 'text', text: 'done' }]);
      expect(progress).toEqual([1]);
    } finally {
      await client.close();
      await fed.close();
    }
  });
});

describe('the error message', () => {
  // Without the SDK McpError's "MCP error -32603: " prefix (a client's SDK adds its own).
  test('is `Upstream <name>: <method> <item>: <reason>`, as documented', async () => {
    const up = await startUpstreamServer();
    const fed = await gatewayFor({ url: up.url, name: 'sleepy', timeoutMs: 300 });
    try {
      const { message } = await rawCall(fed.gateway, 'up_slow');
      expect(message.error.message).toBe('Upstream sleepy: tools/call slow: no answer within 300 ms');
    } finally {
      await fed.close();
      await up.close();
    }
  });
});
