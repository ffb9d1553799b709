/**
 * A real upstream MCP server for the federation tests: the SDK's `McpServer` behind its
 * `StreamableHTTPServerTransport`, one per session (the SDK's README wiring), on a loopback port.
 * Tools: `add`, `slow` (progress, then waits until the call is cancelled),
 * `broken` (a JSON-RPC error); a resource `up://readme`; a prompt `hello`.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { deferred } from './wait';

export interface UpstreamServer {
  readonly url: string;
  /** What the upstream saw: `cancelled slow`, `add 2+3`, … */
  readonly log: string[];
  /** A promise resolved when the next `slow` call is cancelled (ask before cancelling). */
  nextCancel(): Promise<void>;
  /** Registers one more tool on every session: each sends `notifications/tools/list_changed`. */
  addTool(name: string): void;
  close(): Promise<void>;
}

/** Starts it on `port` (0: a free one; the same port again: a restarted upstream). */
export async function startUpstreamServer(port = 0): Promise<UpstreamServer> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const servers: McpServer[] = [];
  const log: string[] = [];
  let cancel = deferred();
  const extraTools: string[] = [];
  const make = (): McpServer => {
    const server = new McpServer({ name: 'upstream', version: '1.0.0' });
    server.registerTool('add', { inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => {
      log.push(`add ${a}+${b}`);
      return { content: [{ type: 'text', text: String(a + b) }] };
    });
    server.registerTool('slow', { inputSchema: {} }, async (_args, extra) => {
      const token = extra._meta?.progressToken;
      if (token !== undefined) {
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken: token, progress: 1, total: 2, message: 'half' },
        });
      }
      await new Promise<void>((resolve) => extra.signal.addEventListener('abort', () => resolve(), { once: true }));
      log.push('cancelled slow');
      cancel.resolve();
      return { content: [] };
    });
    server.registerTool('broken', { inputSchema: {} }, async () => {
      throw new McpError(-32010, 'the upstream refuses');
    });
    server.registerResource('readme', 'up://readme', { mimeType: 'text/plain' }, async (uri) => ({
      contents: [{ uri: uri.href, text: 'upstream readme' }],
    }));
    server.registerPrompt('hello', { argsSchema: { who: z.string() } }, ({ who }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Hello ${who} from upstream` } }],
    }));
    for (const name of extraTools) server.registerTool(name, { inputSchema: {} }, async () => ({ content: [] }));
    servers.push(server);
    return server;
  };
  const httpServer = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    const id = req.headers['mcp-session-id'];
    let transport = typeof id === 'string' ? transports.get(id) : undefined;
    if (!transport) {
      if (typeof id === 'string') {
        res.writeHead(404).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
        return;
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        onsessioninitialized: (sid) => void transports.set(sid, transport!),
      });
      await make().connect(transport);
    }
    await transport.handleRequest(req, res, body);
  });
  await new Promise<void>((resolve) => httpServer.listen(port, '127.0.0.1', resolve));
  const bound = (httpServer.address() as AddressInfo).port;
  const upstream: UpstreamServer = {
    url: `http://127.0.0.1:${bound}/mcp`,
    log,
    nextCancel() {
      cancel = deferred();
      return cancel.promise;
    },
    addTool(name) {
      extraTools.push(name);
      for (const server of servers) server.registerTool(name, { inputSchema: {} }, async () => ({ content: [] }));
    },
    async close() {
      await Promise.all(servers.map((s) => s.close().catch(() => undefined)));
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
  return upstream;
}
