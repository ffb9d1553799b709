/**
 * `upstream()`: a real MCP server as part of a virtual server. Each worker lists it through one
 * shared connection (the SDK client over Streamable HTTP, or one stdio process), at connect and
 * again on its `list_changed` notifications. Calls go through the downstream session's own
 * upstream session (`sessions: 'per-client'`, the default over HTTP) or through the shared one.
 * Progress comes back under the client's own token; the client's cancellation (or disconnect)
 * cancels the upstream request; the upstream's sampling and elicitation requests, log messages and
 * resource updates reach the downstream session; a failure or a timeout is a JSON-RPC error
 * naming the upstream. An upstream that cannot be reached leaves its items out, with a log line.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type CallToolResult,
  ErrorCode,
  type GetPromptResult,
  McpError,
  type ReadResourceResult,
} from '@modelcontextprotocol/sdk/types.js';
import { requestLink, type SessionLink } from '../mcp/session-link.js';
import type { HandlerContext, Logger, UpstreamItems, UpstreamOptions, UpstreamSource } from '../types.js';
import { outsideCalls, type UpstreamCall, withinCall } from './upstream-call.js';
import { type Connection, openConnection } from './upstream-client.js';
import { UpstreamError } from './upstream-error.js';
import { listUpstream } from './upstream-items.js';
import { createUpstreamMetrics, type UpstreamFailure, type UpstreamMetrics } from './upstream-metrics.js';
import { resolveUpstream, type UpstreamConfig } from './upstream-options.js';
import { UpstreamSessions } from './upstream-sessions.js';
import { startSpan } from './upstream-span.js';
import { tellUpdated, UpstreamSubscriptions } from './upstream-subscriptions.js';

const EMPTY: UpstreamItems = { tools: [], resources: [], resourceTemplates: [], prompts: [] };
/** The first retry of an upstream down at start; each next one waits twice as long. */
const FIRST_RETRY_MS = 250;

type Run<T> = (connection: Connection, options: { signal: AbortSignal; timeout: number }) => Promise<T>;

/** Progress tokens of upstream calls: unique in this process, so one connection never mixes two calls' progress. */
let progressTokens = 0;

export class Upstream implements UpstreamSource {
  readonly name: string;
  /** The worker's connection: lists, and calls in `'shared'` mode or without a downstream session. */
  private shared: Connection | undefined;
  private connecting: Promise<void> | undefined;
  /** The next try of an upstream that was down at start. */
  private retryTimer: NodeJS.Timeout | undefined;
  private items: UpstreamItems = EMPTY;
  private readonly watchers = new Set<(items: UpstreamItems) => void>();
  private closed = false;
  private unavailable = false;
  /** Failures in a row (unreachable, closed, timed out), and until when the circuit stays open. */
  private failures = 0;
  private openUntil = 0;
  private readonly perClient: UpstreamSessions | undefined;
  private readonly subscriptions: UpstreamSubscriptions;
  private readonly metrics: UpstreamMetrics;
  /** With forwardAuthorization: each downstream session's latest verified token, for its upstream session's own requests. */
  private readonly tokens = new WeakMap<SessionLink, string>();

  constructor(
    private readonly config: UpstreamConfig,
    private readonly logger: Logger = { info: () => {}, warn: console.warn, error: console.error },
  ) {
    this.name = config.name;
    this.perClient = config.sessions === 'per-client' ? new UpstreamSessions(this.name, (session) => this.openFor(session)) : undefined;
    this.subscriptions = new UpstreamSubscriptions({
      name: this.name,
      timeoutMs: config.timeoutMs,
      perClient: this.perClient,
      shared: () => this.shared,
    });
    this.metrics = createUpstreamMetrics(this.name, config.metrics, {
      openSessions: () => this.openSessions,
      unavailable: () => this.unavailable,
    });
  }

  /** Upstream sessions open now: the shared one and those of downstream sessions. */
  get openSessions(): number {
    return (this.shared ? 1 : 0) + (this.perClient?.size ?? 0);
  }

  watch(listener: (items: UpstreamItems) => void): () => void {
    this.watchers.add(listener);
    if (this.items !== EMPTY) listener(this.items);
    this.connecting ??= this.firstConnect();
    return () => this.watchers.delete(listener);
  }

  /**
   * Connects and lists; an upstream down at start is left out of the lists (said once) and tried
   * again, backing off up to breakerCooldownMs, until it answers or the gateway closes.
   */
  private firstConnect(delayMs = FIRST_RETRY_MS): Promise<void> {
    return this.connect().catch((error: unknown) => {
      if (this.closed) return;
      // Said once: `unavailable` is cleared only when a connection has listed it.
      if (!this.unavailable)
        this.logger.warn(
          `[express-mcp-affinity] upstream ${this.name} is unavailable: ${String(error)}; its items are left out until it answers`,
        );
      this.unavailable = true;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.connecting = this.firstConnect(Math.min(delayMs * 2, this.config.breakerCooldownMs));
      }, delayMs);
      this.retryTimer.unref();
    });
  }

  /** Resolves once the first listing is done (or failed): for tests and start-up checks. */
  async ready(): Promise<void> {
    await this.connecting?.catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.metrics.close();
    await this.perClient?.closeAll();
    await this.shared?.close();
    this.shared = undefined;
  }

  /**
   * Lists again through the worker's connection (an upstream said a list changed). Outside any
   * call, even when the notice came on a call's stream: the worker's lists are fetched with the
   * gateway's own credentials, never a caller's (forwardAuthorization), nor count against its answer.
   */
  private relist(): void {
    const shared = this.shared;
    if (!shared || this.closed) return;
    outsideCalls(() => this.list(shared.client)).catch((error: unknown) =>
      this.logger.warn(`[express-mcp-affinity] upstream ${this.name}: relisting failed: ${String(error)}`),
    );
  }

  private async connect(): Promise<void> {
    const connection: Connection = await openConnection(this.config, {
      onListChanged: () => this.relist(),
      onResourceUpdated: (uri) => this.subscriptions.sharedUpdated(uri),
    });
    if (this.closed) return void (await connection.close());
    try {
      await this.list(connection.client);
    } catch (error) {
      // Connected but not listed: this connection is not kept (a retry opens its own).
      await connection.close();
      throw error;
    }
    if (this.closed) return void (await connection.close());
    this.shared = connection;
    this.unavailable = false;
  }

  /** A downstream session's own upstream session (per-client), subscribed again to what it subscribed to. */
  private async openFor(session: SessionLink): Promise<Connection> {
    const connection = await openConnection(this.config, {
      session,
      // The lists are the worker's: a change one upstream session announces is listed again there.
      onListChanged: () => this.relist(),
      onResourceUpdated: (uri) => tellUpdated(session, uri),
      sessionToken: () => this.tokens.get(session),
    });
    if (this.closed) {
      await connection.close();
      throw new UpstreamError(this.name, 'closed');
    }
    await this.subscriptions.resubscribe(connection, session, new Set(this.items.resources.map((r) => r.uri)));
    return connection;
  }

  private async list(client: Client): Promise<void> {
    this.items = await listUpstream(client, this.config, {
      callTool: (name, args, ctx) => this.callTool(name, args, ctx),
      read: (uri, ctx) => this.read(uri, ctx),
      getPrompt: (name, args, ctx) => this.getPrompt(name, args, ctx),
      subscriptions: this.subscriptions,
    });
    for (const watcher of this.watchers) watcher(this.items);
  }

  /**
   * The shared connection forgot our session (the upstream restarted: 404): a new connection, once
   * for every request that found it so.
   */
  private async reconnect(stale: Connection): Promise<void> {
    if (this.shared !== stale) return this.connecting;
    this.shared = undefined;
    await stale.close();
    this.connecting = outsideCalls(() => this.connect());
    return this.connecting;
  }

  /** The connection a request goes through: its downstream session's, or the shared one. */
  private async pick(session: SessionLink | undefined): Promise<Connection> {
    if (this.perClient && session) return this.perClient.get(session);
    if (!this.shared) throw new UpstreamError(this.name, 'not connected');
    return this.shared;
  }

  /** Runs one upstream request: bounded by the timeout, cancelled with the client's request. */
  private async request<T>(what: string, run: Run<T>, ctx: HandlerContext): Promise<T> {
    const { breakerFailures, breakerCooldownMs, maxAnswerBytes, timeoutMs } = this.config;
    const method = what.split(' ')[0]!;
    // Open: failing fast, without hammering a dead upstream, until the cooldown lets one try through.
    if (this.failures >= breakerFailures && Date.now() < this.openUntil) {
      this.metrics.failure('circuit_open');
      throw new UpstreamError(this.name, `${what}: not tried, ${this.failures} failures in a row; next try after ${breakerCooldownMs} ms`);
    }
    const link = requestLink(ctx);
    if (this.config.forwardAuthorization && link?.session && ctx.auth?.token) this.tokens.set(link.session, ctx.auth.token);
    const controller = new AbortController();
    const cancel = () => controller.abort(ctx.signal.reason);
    if (ctx.signal.aborted) cancel();
    else ctx.signal.addEventListener('abort', cancel, { once: true });
    const span = startSpan(this.name, what, link?.traceparent, this.config.onSpan);
    const call: UpstreamCall = { what, ctx, traceparent: span.traceparent, abort: (error) => controller.abort(error) };
    const options = { signal: controller.signal, timeout: timeoutMs };
    const attempt = async (): Promise<T> => {
      const connection = await this.pick(link?.session);
      try {
        return await withinCall(call, () => connection.carry(call, () => run(connection, options)));
      } catch (error) {
        if (!(error instanceof StreamableHTTPError) || error.code !== 404 || this.closed) throw error;
        // The upstream forgot this session (it restarted): the request was never delivered, so
        // it goes again, once, through a new session.
        this.metrics.failure('lost_session');
        this.logger.warn(`[express-mcp-affinity] upstream ${this.name} lost our session (restarted?); connecting again`);
        if (this.perClient && link?.session) await this.perClient.retire(link.session.sessionId, connection);
        else await this.reconnect(connection);
        return withinCall(call, async () => {
          const fresh = await this.pick(link?.session);
          return fresh.carry(call, () => run(fresh, options));
        });
      }
    };
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const answer = await attempt();
      this.failures = 0;
      // A stdio answer is measured once whole; an HTTP one was counted as it streamed.
      const bytes = Buffer.byteLength(JSON.stringify(answer) ?? '');
      if (bytes > maxAnswerBytes)
        throw new UpstreamError(this.name, `${what}: an answer of ${bytes} bytes, over maxAnswerBytes (${maxAnswerBytes})`);
      this.metrics.request(method, 'ok', seconds());
      span.end('ok');
      return answer;
    } catch (error) {
      const outcome = ctx.signal.aborted ? 'cancelled' : 'error';
      this.metrics.request(method, outcome, seconds());
      const failure = this.failed(what, error, ctx);
      span.end(outcome, failure);
      throw failure;
    } finally {
      ctx.signal.removeEventListener('abort', cancel);
    }
  }

  /** The error the client sees, counted by kind (and towards opening the circuit). */
  private failed(what: string, error: unknown, ctx: HandlerContext): UpstreamError {
    if (error instanceof UpstreamError) {
      if (/over maxAnswerBytes/.test(error.message)) this.metrics.failure('answer_too_large');
      return error;
    }
    if (error instanceof McpError && error.code !== ErrorCode.RequestTimeout && error.code !== ErrorCode.ConnectionClosed) {
      // The upstream's own answer (an unknown argument, a missing resource): passed through, named.
      this.metrics.failure('upstream_error');
      return new UpstreamError(this.name, `${what}: ${error.message.replace(/^MCP error -?\d+: /, '')}`);
    }
    // Unreachable, closed or timed out: counted towards opening the circuit (the client's own
    // cancellation is not the upstream's failure).
    const timedOut = error instanceof McpError && error.code === ErrorCode.RequestTimeout;
    if (!ctx.signal.aborted) {
      this.metrics.failure(timedOut ? 'timeout' : ('unreachable' satisfies UpstreamFailure));
      if (++this.failures >= this.config.breakerFailures) this.openUntil = Date.now() + this.config.breakerCooldownMs;
    }
    const reason = timedOut ? `no answer within ${this.config.timeoutMs} ms` : String(error instanceof Error ? error.message : error);
    return new UpstreamError(this.name, `${what}: ${reason}`);
  }

  private callTool(name: string, args: Record<string, unknown>, ctx: HandlerContext): Promise<CallToolResult> {
    return this.request(
      `tools/call ${name}`,
      async (connection, options) => {
        // Progress of the upstream call, forwarded under the downstream client's own token (or
        // dropped when it asked for none), in order, and all of it before the result.
        const token = `p${++progressTokens}`;
        let relayed: Promise<void> = Promise.resolve();
        const stop = connection.onProgress(token, (p) => {
          relayed = relayed.then(() => ctx.sendProgress(p.progress, p.total, p.message)).catch(() => undefined);
        });
        try {
          const result = await connection.client.callTool({ name, arguments: args, _meta: { progressToken: token } }, undefined, options);
          await relayed;
          return result as CallToolResult;
        } finally {
          stop();
        }
      },
      ctx,
    );
  }

  private read(uri: string, ctx: HandlerContext): Promise<ReadResourceResult> {
    return this.request(`resources/read ${uri}`, ({ client }, options) => client.readResource({ uri }, options), ctx);
  }

  private getPrompt(name: string, args: Record<string, string>, ctx: HandlerContext): Promise<GetPromptResult> {
    return this.request(`prompts/get ${name}`, ({ client }, options) => client.getPrompt({ name, arguments: args }, options), ctx);
  }
}

/**
 * A real MCP server as (part of) a virtual server: `createCatalog({ docs: upstream({ url }) })`,
 * or mixed with local items: `{ ...upstream({ command, args }), tools: [localTool] }`.
 */
export function upstream(options: UpstreamOptions, logger?: Logger): { upstreams: readonly Upstream[] } {
  return { upstreams: [new Upstream(resolveUpstream(options), logger)] };
}
