import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createCatalog, type McpAffinityOptions, type McpAffinityRouter, type MemoryCatalog, mcpAffinity } from '../../lib/index';

export const SECRET = 'test-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

/** What the test catalog's handlers did, in order: `"<serverId>/<tool>@<workerId>"`. */
export type CallLog = string[];

/** A slow tool's gate: the tool sends one progress event, marks `started`, then waits for `release()`. */
export class Gate {
  private open!: () => void;
  private begin!: () => void;
  readonly released = new Promise<void>((resolve) => (this.open = resolve));
  readonly started = new Promise<void>((resolve) => (this.begin = resolve));
  release(): void {
    this.open();
  }
  markStarted(): void {
    this.begin();
  }
}

const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });

/** alpha: echo, add (+ a resource, a template, a prompt); beta: reverse, whoami; gamma: slow. */
export function testCatalog(calls: CallLog = [], gates: Gate[] = []): MemoryCatalog {
  return createCatalog({
    alpha: {
      tools: [
        {
          name: 'echo',
          description: 'Returns the text',
          inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
          handler: ({ text: t }, ctx) => (calls.push(`alpha/echo@${ctx.workerId}`), text(String(t))),
        },
        {
          name: 'add',
          inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
          handler: ({ a, b }, ctx) => (calls.push(`alpha/add@${ctx.workerId}`), text(String(Number(a) + Number(b)))),
        },
      ],
      resources: [
        {
          uri: 'memo://alpha/readme',
          name: 'readme',
          mimeType: 'text/plain',
          read: () => ({ contents: [{ uri: 'memo://alpha/readme', text: 'alpha readme' }] }),
        },
      ],
      resourceTemplates: [
        {
          uriTemplate: 'memo://alpha/notes/{id}',
          name: 'note',
          read: (uri, vars) => ({ contents: [{ uri, text: `note ${String(vars.id)}` }] }),
        },
      ],
      prompts: [
        {
          name: 'greet',
          arguments: [{ name: 'who', required: true }],
          get: (args) => ({ messages: [{ role: 'user', content: { type: 'text', text: `Hello ${args.who}` } }] }),
        },
      ],
    },
    beta: {
      tools: [
        {
          name: 'reverse',
          inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
          handler: ({ text: t }, ctx) => (calls.push(`beta/reverse@${ctx.workerId}`), text([...String(t)].reverse().join(''))),
        },
        {
          name: 'whoami',
          inputSchema: { type: 'object', properties: {} },
          handler: (_args, ctx) => (
            calls.push(`beta/whoami@${ctx.workerId}`), text(JSON.stringify({ workerId: ctx.workerId, pid: process.pid }))
          ),
        },
      ],
      resources: [
        { uri: 'memo://beta/secret', name: 'secret', read: () => ({ contents: [{ uri: 'memo://beta/secret', text: 'beta only' }] }) },
      ],
    },
    gamma: {
      tools: [
        {
          name: 'slow',
          inputSchema: { type: 'object', properties: {} },
          handler: async (_args, ctx) => {
            calls.push(`gamma/slow@${ctx.workerId}`);
            const gate = gates.shift();
            await ctx.sendProgress(1, 2, 'first half');
            gate?.markStarted();
            if (gate) await gate.released;
            await ctx.sendProgress(2, 2, 'second half');
            return text('slow done');
          },
        },
      ],
    },
  });
}

export interface RunningGateway {
  /** Public URL, e.g. http://127.0.0.1:1234 */
  readonly url: string;
  readonly router: McpAffinityRouter;
  readonly workerId: string;
  /** Every request the app saw (public or internal): method, url, worker. */
  readonly seen: Array<{ method: string; url: string; internal: boolean; headers: http.IncomingHttpHeaders }>;
  readonly publicServer: http.Server;
  close(): Promise<void>;
}

/** Starts one worker in this process: an Express app on a public port plus its internal listener. */
export async function startGateway(
  options: Partial<McpAffinityOptions> & Pick<McpAffinityOptions, 'catalog'>,
  configure?: (app: express.Express, router: McpAffinityRouter) => void,
): Promise<RunningGateway> {
  const app = express();
  const seen: RunningGateway['seen'] = [];
  app.use((req, _res, next) => {
    seen.push({
      method: req.method,
      url: req.originalUrl,
      internal: req.headers['x-forwarded-internally'] !== undefined,
      headers: req.headers,
    });
    next();
  });
  const router = mcpAffinity({ secret: SECRET, exposeWorkerHeaders: true, ...options });
  if (configure) configure(app, router);
  else app.use(router);
  // A worker that cannot start must not leave its timers behind.
  await router.listen(app).catch(async (error: unknown) => {
    await router.close();
    throw error;
  });
  const publicServer = http.createServer(app);
  await new Promise<void>((resolve) => publicServer.listen(0, '127.0.0.1', resolve));
  const { port } = publicServer.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    router,
    workerId: router.worker.workerId,
    seen,
    publicServer,
    close: async () => {
      publicServer.closeAllConnections();
      await new Promise<void>((resolve) => publicServer.close(() => resolve()));
      await router.close();
    },
  };
}

export const ACCEPT = 'application/json, text/event-stream';

export const initializeBody = (id: number | string = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'test', version: '1.0.0' } },
});

/** The JSON-RPC messages in a body that is either JSON or an SSE stream. */
export function rpcMessages(contentType: string | undefined, body: string): any[] {
  if (contentType?.startsWith('text/event-stream')) {
    return body
      .split(/\n\n/)
      .map((event) =>
        event
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart())
          .join('\n'),
      )
      .filter((data) => data.length > 0)
      .map((data) => JSON.parse(data));
  }
  const parsed = JSON.parse(body);
  return Array.isArray(parsed) ? parsed : [parsed];
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  messages(): any[];
}

/**
 * One request over a new connection, with full control of headers (arrays repeat a header; names
 * keep their letter case).
 */
export function rawRequest(
  url: string,
  init: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'POST', headers: init.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          messages: () => rpcMessages(res.headers['content-type'], body),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** POSTs a JSON-RPC body (object or string) to an MCP endpoint over a new connection. */
export function rpc(url: string, body: unknown, headers: Record<string, string | string[]> = {}): Promise<RawResponse> {
  return rawRequest(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT, 'mcp-protocol-version': '2025-06-18', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Initializes a session on `url` and sends notifications/initialized; returns the session id. */
export async function openSession(url: string): Promise<string> {
  const init = await rpc(url, initializeBody());
  if (init.status !== 200) throw new Error(`initialize answered ${init.status}: ${init.body}`);
  const sessionId = String(init.headers['mcp-session-id']);
  const ack = await rpc(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': sessionId });
  if (ack.status !== 202) throw new Error(`notifications/initialized answered ${ack.status}`);
  return sessionId;
}

export const toolNames = (response: RawResponse): string[] =>
  response
    .messages()[0]
    .result.tools.map((t: { name: string }) => t.name)
    .sort();
