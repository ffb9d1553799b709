/**
 * One connection to an upstream: the SDK `Client` over Streamable HTTP or stdio. A connection of a
 * downstream session (per-client) declares sampling and elicitation only when that session's client
 * did, and relays the upstream's questions, log messages and resource updates to it: a question or
 * a log message sent on a call's stream goes to that call's downstream request (its stream).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type ClientCapabilities,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ErrorCode,
  type LoggingLevel,
  LoggingLevelSchema,
  LoggingMessageNotificationSchema,
  McpError,
  ProgressNotificationSchema,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { SessionLink } from '../mcp/session-link.js';
import { PACKAGE_VERSION } from '../package-version.js';
import type { HandlerContext } from '../types.js';
import { currentCall, type UpstreamCall } from './upstream-call.js';
import { upstreamFetch } from './upstream-fetch.js';
import type { UpstreamConfig } from './upstream-options.js';

/** A progress notification's params, as the upstream sent them. */
type Progress = { progress: number; total?: number; message?: string };

export interface Connection {
  readonly client: Client;
  /**
   * Hears the progress sent under `token` until the returned function is called. Heard on the
   * transport, before the SDK client: its own progress handler runs a microtask late, after a
   * result that came in the same read (usual over stdio) has already removed it.
   */
  onProgress(token: string, listener: (progress: Progress) => void): () => void;
  /** Runs one call's upstream request on this connection, known as in flight while it runs. */
  carry<T>(call: UpstreamCall, run: () => Promise<T>): Promise<T>;
  /** Ends the upstream session (DELETE over HTTP) and the connection (a stdio process too). */
  close(): Promise<void>;
}

export interface ConnectionHooks {
  /** The downstream session this connection is for (per-client); none for the shared one. */
  readonly session?: SessionLink;
  onListChanged?(): void;
  onResourceUpdated?(uri: string): void;
  /** The caller's token for requests outside a call (per-client, with forwardAuthorization). */
  sessionToken?(): string | undefined;
}

const SEVERITY = new Map<LoggingLevel, number>(LoggingLevelSchema.options.map((level, index) => [level, index]));

/** Whether a call's failure is the upstream's own answer (it finished), not a cancellation or a timeout. */
const answered = (error: unknown): boolean =>
  error instanceof McpError && error.code !== ErrorCode.RequestTimeout && error.code !== ErrorCode.ConnectionClosed;

/**
 * The calls in flight on a stdio process, for the messages that say nothing of their call. Only
 * one call in flight can be told; and once a call ended without the upstream's answer (cancelled,
 * timed out), that call may still be running there and send, so none can be told any more: a
 * question must never reach another caller's client.
 */
class StdioCalls {
  private readonly calls = new Set<UpstreamCall>();
  private abandoned = false;

  only(): UpstreamCall | undefined {
    return !this.abandoned && this.calls.size === 1 ? this.calls.values().next().value : undefined;
  }

  async carry<T>(call: UpstreamCall, run: () => Promise<T>): Promise<T> {
    this.calls.add(call);
    try {
      return await run();
    } catch (error) {
      if (!answered(error)) this.abandoned = true;
      throw error;
    } finally {
      this.calls.delete(call);
    }
  }
}

/** The call a message relates to: the one whose stream carried it (HTTP), or the one a stdio process can tell. */
function relatedCall(stdio: StdioCalls | undefined): UpstreamCall | undefined {
  return currentCall() ?? stdio?.only();
}

function questionCall(what: string, inFlight: StdioCalls | undefined): HandlerContext {
  const call = relatedCall(inFlight);
  if (!call)
    throw new McpError(
      ErrorCode.InvalidRequest,
      `${what} is relayed only on a tool call's stream, or over stdio while one call is in flight`,
    );
  return call.ctx;
}

/**
 * What the upstream is told the client can do: a downstream session's own declaration; the shared
 * connection declares both, so that the worker's lists include the upstream's tools that need them
 * (a request then reaches whichever downstream client the call came from, or is refused by it).
 */
function relayedCapabilities(session: SessionLink | undefined): ClientCapabilities {
  const declared = session ? (session.clientCapabilities() ?? {}) : { sampling: {}, elicitation: {} };
  return {
    ...(declared.sampling ? { sampling: declared.sampling } : {}),
    ...(declared.elicitation ? { elicitation: declared.elicitation } : {}),
  };
}

function relay(client: Client, capabilities: ClientCapabilities, hooks: ConnectionHooks, inFlight?: StdioCalls): void {
  const { session } = hooks;
  if (capabilities.sampling) {
    client.setRequestHandler(CreateMessageRequestSchema, (request) =>
      questionCall('sampling', inFlight).createMessage(request.params as Parameters<HandlerContext['createMessage']>[0]),
    );
  }
  if (capabilities.elicitation) {
    client.setRequestHandler(ElicitRequestSchema, (request) => questionCall('elicitation', inFlight).elicitInput(request.params));
  }
  client.setNotificationHandler(LoggingMessageNotificationSchema, async ({ params }) => {
    const call = relatedCall(inFlight);
    if (call) return call.ctx.log(params.level, params.data, params.logger);
    // Not on a call's stream: the session's own, at or above its level; a shared connection's are the worker's.
    const wanted = session?.logLevel();
    if (!session || (wanted !== undefined && (SEVERITY.get(params.level) ?? 0) < (SEVERITY.get(wanted) ?? 0))) return;
    await session.notify({ method: 'notifications/message', params }).catch(() => undefined);
  });
  if (hooks.onResourceUpdated) {
    const updated = hooks.onResourceUpdated;
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, ({ params }) => updated(params.uri));
  }
  if (hooks.onListChanged) {
    const changed = hooks.onListChanged;
    client.setNotificationHandler(ToolListChangedNotificationSchema, changed);
    client.setNotificationHandler(PromptListChangedNotificationSchema, changed);
    client.setNotificationHandler(ResourceListChangedNotificationSchema, changed);
  }
}

/** Connects; the connection's level follows the session's `logging/setLevel`. */
export async function openConnection(config: UpstreamConfig, hooks: ConnectionHooks): Promise<Connection> {
  const { transport: spec, timeoutMs } = config;
  const capabilities = relayedCapabilities(hooks.session);
  const client = new Client({ name: 'express-mcp-affinity', version: PACKAGE_VERSION }, { capabilities });
  const stdio = spec.kind === 'stdio' ? new StdioCalls() : undefined;
  relay(client, capabilities, hooks, stdio);
  const transport =
    spec.kind === 'http'
      ? new StreamableHTTPClientTransport(spec.url, {
          requestInit: { headers: spec.headers },
          fetch: upstreamFetch(
            config.name,
            config.maxAnswerBytes,
            config.forwardAuthorization ? (call) => call?.ctx.auth?.token || hooks.sessionToken?.() : undefined,
          ),
        })
      : new StdioClientTransport({ command: spec.command, args: [...spec.args], env: spec.env, cwd: spec.cwd, stderr: 'ignore' });
  const progress = new Map<string, (progress: Progress) => void>();
  // Protocol.connect() keeps this handler and calls it first, synchronously, for every message.
  transport.onmessage = (message) => {
    if (!('method' in message) || message.method !== 'notifications/progress' || 'id' in message) return;
    const params = message.params as Progress & { progressToken?: unknown };
    if (typeof params?.progressToken === 'string') progress.get(params.progressToken)?.(params);
  };
  // The SDK client's own progress handling has nothing to do (no call passes onprogress).
  client.setNotificationHandler(ProgressNotificationSchema, () => undefined);
  await client.connect(transport, { timeout: timeoutMs });
  const { session } = hooks;
  let stopLevel: (() => void) | undefined;
  if (session && client.getServerCapabilities()?.logging) {
    const setLevel = (level: LoggingLevel) => void client.setLoggingLevel(level, { timeout: timeoutMs }).catch(() => undefined);
    const level = session.logLevel();
    if (level !== undefined) await client.setLoggingLevel(level, { timeout: timeoutMs }).catch(() => undefined);
    stopLevel = session.onLogLevel(setLevel);
  }
  return {
    client,
    carry: (call, run) => (stdio ? stdio.carry(call, run) : run()),
    onProgress: (token, listener) => {
      progress.set(token, listener);
      return () => progress.delete(token);
    },
    close: async () => {
      stopLevel?.();
      if (transport instanceof StreamableHTTPClientTransport) await transport.terminateSession().catch(() => undefined);
      await client.close().catch(() => undefined);
    },
  };
}
