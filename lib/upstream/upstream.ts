/**
 * `upstream()`: a real MCP server as part of a virtual server. One connection per worker (the SDK
 * client over Streamable HTTP, or one stdio process), shared by every session of the worker; its
 * lists are fetched at connect and again on its `list_changed` notifications, and each item's
 * handler calls it: progress comes back under the client's own token, the client's cancellation
 * (or disconnect) cancels the upstream request, and a failure or a timeout is a JSON-RPC error
 * naming the upstream. An upstream that cannot be reached leaves its items out, with a log line.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type CallToolResult,
  ErrorCode,
  type GetPromptResult,
  McpError,
  PromptListChangedNotificationSchema,
  type ReadResourceResult,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { PACKAGE_VERSION } from '../package-version.js';
import type { HandlerContext, Logger, ToolInputSchema, UpstreamItems, UpstreamOptions, UpstreamSource } from '../types.js';
import { UpstreamError } from './upstream-error.js';
import { resolveUpstream, type UpstreamConfig } from './upstream-options.js';

const EMPTY: UpstreamItems = { tools: [], resources: [], resourceTemplates: [], prompts: [] };

export class Upstream implements UpstreamSource {
  readonly name: string;
  private client: Client | undefined;
  private connecting: Promise<void> | undefined;
  private items: UpstreamItems = EMPTY;
  private readonly watchers = new Set<(items: UpstreamItems) => void>();
  private closed = false;
  /** Failures in a row (unreachable, closed, timed out), and until when the circuit stays open. */
  private failures = 0;
  private openUntil = 0;

  constructor(
    private readonly config: UpstreamConfig,
    private readonly logger: Logger = { info: () => {}, warn: console.warn, error: console.error },
  ) {
    this.name = config.name;
  }

  watch(listener: (items: UpstreamItems) => void): () => void {
    this.watchers.add(listener);
    if (this.items !== EMPTY) listener(this.items);
    this.connecting ??= this.connect().catch((error: unknown) => {
      // Left out of the lists until it can be reached: said once, here.
      this.logger.warn(`[express-mcp-affinity] upstream ${this.name} is unavailable: ${String(error)}; its items are left out`);
    });
    return () => this.watchers.delete(listener);
  }

  /** Resolves once the first listing is done (or failed): for tests and start-up checks. */
  async ready(): Promise<void> {
    await this.connecting?.catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.close().catch(() => undefined);
    this.client = undefined;
  }

  private async connect(): Promise<void> {
    const { transport } = this.config;
    const client = new Client({ name: 'express-mcp-affinity', version: PACKAGE_VERSION });
    const refresh = () =>
      void this.list(client).catch((error: unknown) =>
        this.logger.warn(`[express-mcp-affinity] upstream ${this.name}: relisting failed: ${String(error)}`),
      );
    client.setNotificationHandler(ToolListChangedNotificationSchema, refresh);
    client.setNotificationHandler(PromptListChangedNotificationSchema, refresh);
    client.setNotificationHandler(ResourceListChangedNotificationSchema, refresh);
    await client.connect(
      transport.kind === 'http'
        ? new StreamableHTTPClientTransport(transport.url, { requestInit: { headers: transport.headers } })
        : new StdioClientTransport({
            command: transport.command,
            args: [...transport.args],
            env: transport.env,
            cwd: transport.cwd,
            stderr: 'ignore',
          }),
      { timeout: this.config.timeoutMs },
    );
    if (this.closed) return void (await client.close());
    this.client = client;
    await this.list(client);
  }

  private async list(client: Client): Promise<void> {
    const caps = client.getServerCapabilities() ?? {};
    const options = { timeout: this.config.timeoutMs };
    const [tools, resources, templates, prompts] = await Promise.all([
      caps.tools ? client.listTools(undefined, options).then((r) => r.tools) : [],
      caps.resources ? client.listResources(undefined, options).then((r) => r.resources) : [],
      caps.resources ? client.listResourceTemplates(undefined, options).then((r) => r.resourceTemplates) : [],
      caps.prompts ? client.listPrompts(undefined, options).then((r) => r.prompts) : [],
    ]);
    const { prefix, include, exclude } = this.config;
    const wanted = (kind: 'tools' | 'prompts' | 'resources', name: string) =>
      (include[kind] === undefined || include[kind].has(name)) && !exclude[kind]?.has(name);
    this.items = {
      tools: tools
        .filter((t) => wanted('tools', t.name))
        .map((t) => ({
          name: `${prefix}${t.name}`,
          ...(t.title === undefined ? {} : { title: t.title }),
          ...(t.description === undefined ? {} : { description: t.description }),
          ...(t.annotations === undefined ? {} : { annotations: t.annotations }),
          inputSchema: t.inputSchema as ToolInputSchema,
          handler: (args: Record<string, unknown>, ctx: HandlerContext) => this.callTool(t.name, args, ctx),
        })),
      resources: resources
        .filter((r) => wanted('resources', r.uri))
        .map((r) => ({
          uri: r.uri,
          name: r.name,
          ...(r.description === undefined ? {} : { description: r.description }),
          ...(r.mimeType === undefined ? {} : { mimeType: r.mimeType }),
          read: (ctx: HandlerContext) => this.read(r.uri, ctx),
        })),
      resourceTemplates: templates.map((t) => ({
        uriTemplate: t.uriTemplate,
        name: t.name,
        ...(t.description === undefined ? {} : { description: t.description }),
        ...(t.mimeType === undefined ? {} : { mimeType: t.mimeType }),
        read: (uri: string, _vars: unknown, ctx: HandlerContext) => this.read(uri, ctx),
      })),
      prompts: prompts
        .filter((p) => wanted('prompts', p.name))
        .map((p) => ({
          name: `${prefix}${p.name}`,
          ...(p.description === undefined ? {} : { description: p.description }),
          ...(p.arguments === undefined ? {} : { arguments: p.arguments }),
          get: (args: Record<string, string>, ctx: HandlerContext) => this.getPrompt(p.name, args, ctx),
        })),
    };
    for (const watcher of this.watchers) watcher(this.items);
  }

  /**
   * The upstream forgot our session (it restarted: 404): a new connection, once for every request
   * that found it so. Such a request was never delivered, so it is sent again, once.
   */
  private async reconnect(stale: Client): Promise<void> {
    if (this.client !== stale) return this.connecting;
    this.client = undefined;
    this.logger.warn(`[express-mcp-affinity] upstream ${this.name} lost our session (restarted?); connecting again`);
    await stale.close().catch(() => undefined);
    this.connecting = this.connect();
    return this.connecting;
  }

  /** Runs one upstream request: bounded by the timeout, cancelled with the client's request. */
  private async request<T>(what: string, run: (client: Client, options: object) => Promise<T>, ctx: HandlerContext): Promise<T> {
    let client = this.client;
    if (!client) throw new UpstreamError(this.name, 'not connected');
    const { breakerFailures, breakerCooldownMs, maxAnswerBytes } = this.config;
    // Open: failing fast, without hammering a dead upstream, until the cooldown lets one try through.
    if (this.failures >= breakerFailures && Date.now() < this.openUntil) {
      throw new UpstreamError(this.name, `${what}: not tried, ${this.failures} failures in a row; next try after ${breakerCooldownMs} ms`);
    }
    const options = { signal: ctx.signal, timeout: this.config.timeoutMs };
    const answered = (answer: T): T => {
      this.failures = 0;
      const bytes = Buffer.byteLength(JSON.stringify(answer) ?? '');
      if (bytes > maxAnswerBytes)
        throw new UpstreamError(this.name, `${what}: an answer of ${bytes} bytes, over maxAnswerBytes (${maxAnswerBytes})`);
      return answer;
    };
    try {
      try {
        return answered(await run(client, options));
      } catch (error) {
        if (error instanceof UpstreamError) throw error;
        if (!(error instanceof StreamableHTTPError) || error.code !== 404 || this.closed) throw error;
        await this.reconnect(client);
        client = this.client;
        if (!client) throw new UpstreamError(this.name, 'not reachable again after it lost our session');
        return answered(await run(client, options));
      }
    } catch (error) {
      if (error instanceof UpstreamError) throw error;
      if (
        error instanceof McpError &&
        !(error instanceof UpstreamError) &&
        error.code !== ErrorCode.RequestTimeout &&
        error.code !== ErrorCode.ConnectionClosed
      ) {
        // The upstream's own answer (an unknown argument, a missing resource): passed through, named.
        throw new UpstreamError(this.name, `${what}: ${error.message.replace(/^MCP error -?\d+: /, '')}`);
      }
      // Unreachable, closed or timed out: counted towards opening the circuit (the client's own
      // cancellation is not the upstream's failure).
      if (!ctx.signal.aborted && ++this.failures >= breakerFailures) this.openUntil = Date.now() + breakerCooldownMs;
      const reason =
        error instanceof McpError && error.code === ErrorCode.RequestTimeout
          ? `no answer within ${this.config.timeoutMs} ms`
          : String(error instanceof Error ? error.message : error);
      throw new UpstreamError(this.name, `${what}: ${reason}`);
    }
  }

  private callTool(name: string, args: Record<string, unknown>, ctx: HandlerContext): Promise<CallToolResult> {
    return this.request(
      `tools/call ${name}`,
      (client, options) =>
        client.callTool({ name, arguments: args }, undefined, {
          ...options,
          // Progress of the upstream call, forwarded under the downstream client's own token.
          onprogress: (p) => void ctx.sendProgress(p.progress, p.total, p.message),
        }) as Promise<CallToolResult>,
      ctx,
    );
  }

  private read(uri: string, ctx: HandlerContext): Promise<ReadResourceResult> {
    return this.request(`resources/read ${uri}`, (client, options) => client.readResource({ uri }, options), ctx);
  }

  private getPrompt(name: string, args: Record<string, string>, ctx: HandlerContext): Promise<GetPromptResult> {
    return this.request(`prompts/get ${name}`, (client, options) => client.getPrompt({ name, arguments: args }, options), ctx);
  }
}

/**
 * A real MCP server as (part of) a virtual server: `createCatalog({ docs: upstream({ url }) })`,
 * or mixed with local items: `{ ...upstream({ command, args }), tools: [localTool] }`.
 */
export function upstream(options: UpstreamOptions, logger?: Logger): { upstreams: readonly Upstream[] } {
  return { upstreams: [new Upstream(resolveUpstream(options), logger)] };
}
