/**
 * A real upstream MCP server for the federation tests: the SDK's `McpServer` behind its
 * `StreamableHTTPServerTransport`, one per session (the SDK's README wiring), on a loopback port.
 * Tools: `add`, `slow` (progress, then waits until the call is cancelled),
 * `broken` (a JSON-RPC error); a resource `up://readme`; a prompt `hello`. For the session tests:
 * `whoami` (the upstream session id), `sample` and `elicit` (ask the client, on the call's stream),
 * `chatty` (log messages at debug and error, on the call's stream), `flood` (10 KiB of log messages,
 * then waits until cancelled), and a subscribable resource
 * `up://counter` (`touch()` tells its subscribers it changed).
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CreateMessageResultSchema,
  ElicitResultSchema,
  McpError,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
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
  /** Upstream session ids, as each was initialized. */
  readonly opened: string[];
  /** Upstream session ids a DELETE ended. */
  readonly deleted: string[];
  /** The `traceparent` of each POST that had one. */
  readonly traceparents: string[];
  /** Each request's `Authorization` (`''` without one), with its method: `POST Bearer …`. */
  readonly authorizations: string[];
  /** Sessions subscribed to each URI. */
  readonly subscribed: Map<string, Set<string>>;
  /** Sends `notifications/resources/updated` to the sessions subscribed to `uri`. */
  touch(uri: string): Promise<void>;
  close(): Promise<void>;
}

/** Starts it on `port` (0: a free one; the same port again: a restarted upstream). */
export async function startUpstreamServer(port = 0, options: { sessionTools?: boolean } = {}): Promise<UpstreamServer> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const servers: McpServer[] = [];
  const log: string[] = [];
  let cancel = deferred();
  const extraTools: string[] = [];
  const opened: string[] = [];
  const deleted: string[] = [];
  const traceparents: string[] = [];
  const authorizations: string[] = [];
  const subscribed = new Map<string, Set<string>>();
  const bySession = new Map<string, McpServer>();
  const addSessionTools = (server: McpServer): void => {
    server.server.registerCapabilities({ resources: { subscribe: true }, logging: {} });
    server.server.setRequestHandler(SubscribeRequestSchema, (request, extra) => {
      const set = subscribed.get(request.params.uri) ?? new Set<string>();
      subscribed.set(request.params.uri, set.add(String(extra.sessionId)));
      bySession.set(String(extra.sessionId), server);
      return {};
    });
    server.server.setRequestHandler(UnsubscribeRequestSchema, (request, extra) => {
      subscribed.get(request.params.uri)?.delete(String(extra.sessionId));
      return {};
    });
    server.server.setRequestHandler(SetLevelRequestSchema, (request, extra) => {
      log.push(`level ${request.params.level} for ${String(extra.sessionId)}`);
      return {};
    });
    server.registerTool('whoami', { inputSchema: {} }, async (_args, extra) => ({
      content: [{ type: 'text', text: String(extra.sessionId) }],
    }));
    server.registerTool('sample', { inputSchema: { prompt: z.string() } }, async ({ prompt }, extra) => {
      const answer = await extra.sendRequest(
        {
          method: 'sampling/createMessage',
          params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 10 },
        },
        CreateMessageResultSchema,
      );
      log.push(`sampled ${prompt}`);
      return { content: [{ type: 'text', text: `the model said: ${(answer.content as { text?: string }).text}` }] };
    });
    server.registerTool('elicit', { inputSchema: {} }, async (_args, extra) => {
      const answer = await extra.sendRequest(
        {
          method: 'elicitation/create',
          params: { message: 'Your name?', requestedSchema: { type: 'object', properties: { name: { type: 'string' } } } },
        },
        ElicitResultSchema,
      );
      return { content: [{ type: 'text', text: `${answer.action}: ${String(answer.content?.name)}` }] };
    });
    server.registerTool('flood', { inputSchema: {} }, async (_args, extra) => {
      // Ten KiB on the call's stream, then no answer until the call is cancelled.
      for (let i = 0; i < 10; i++) {
        await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data: 'x'.repeat(1024) } });
      }
      await new Promise<void>((resolve) => extra.signal.addEventListener('abort', () => resolve(), { once: true }));
      log.push('cancelled flood');
      cancel.resolve();
      return { content: [] };
    });
    server.registerTool('chatty', { inputSchema: {} }, async (_args, extra) => {
      for (const level of ['debug', 'error'] as const) {
        await extra.sendNotification({ method: 'notifications/message', params: { level, data: `a ${level} line` } });
      }
      return { content: [{ type: 'text', text: 'said two lines' }] };
    });
    server.registerResource('counter', 'up://counter', { mimeType: 'text/plain' }, async (uri) => ({
      contents: [{ uri: uri.href, text: 'counter' }],
    }));
  };
  const make = (): McpServer => {
    const server = new McpServer({ name: 'upstream', version: '1.0.0' });
    if (options.sessionTools) addSessionTools(server);
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
    if (req.method === 'POST' && typeof req.headers.traceparent === 'string') traceparents.push(req.headers.traceparent);
    authorizations.push(`${req.method} ${req.headers.authorization ?? ''}`);
    if (req.method === 'DELETE' && typeof id === 'string' && transports.has(id)) {
      deleted.push(id);
      for (const set of subscribed.values()) set.delete(id);
    }
    let transport = typeof id === 'string' ? transports.get(id) : undefined;
    if (!transport) {
      if (typeof id === 'string') {
        res.writeHead(404).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
        return;
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        onsessioninitialized: (sid) => {
          transports.set(sid, transport!);
          opened.push(sid);
        },
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
    opened,
    deleted,
    traceparents,
    authorizations,
    subscribed,
    async touch(uri) {
      for (const sid of subscribed.get(uri) ?? []) await bySession.get(sid)?.server.sendResourceUpdated({ uri });
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
