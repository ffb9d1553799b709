/**
 * Every public type of express-mcp-affinity, in one place.
 *
 * The options of each middleware are resolved once, when the middleware is created; the objects you
 * pass are never mutated.
 */
import type { RequestListener } from 'node:http';
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type {
  CallToolResult,
  CreateMessageRequestParamsBase,
  CreateMessageResult,
  ElicitRequestParams,
  ElicitResult,
  GetPromptResult,
  LoggingLevel,
  PromptArgument,
  ReadResourceResult,
  ToolAnnotations,
} from '@modelcontextprotocol/sdk/types.js';

// ---------------------------------------------------------------------------------------------
// Logging
// ---------------------------------------------------------------------------------------------

/**
 * Where the suite reports what it noticed. `console` and pino both fit. Silent by default.
 */
export type Logger = Pick<Console, 'info' | 'warn' | 'error'> & Partial<Pick<Console, 'debug'>>;

// ---------------------------------------------------------------------------------------------
// Scope
// ---------------------------------------------------------------------------------------------

/**
 * What a request may see. Set by `serverScope` from the path alone, read by `rpcDispatch`.
 * - `{ kind: 'server', serverId }` on `/servers/:serverId/mcp`: only that virtual server's
 *   tools, resources and prompts exist.
 * - `{ kind: 'all' }` on `/mcp`: every virtual server's items.
 */
/** A list a session can be told has changed (`notifications/<kind>/list_changed`); templates count as resources. */
export type ListKind = 'tools' | 'resources' | 'prompts';

export type McpScope = { readonly kind: 'server'; readonly serverId: string } | { readonly kind: 'all' };

// ---------------------------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------------------------

/** What a tool, resource or prompt handler is told about the request it serves. */
export interface HandlerContext {
  /** The virtual server the item belongs to. */
  readonly serverId: string;
  /** The scope of the session the request belongs to. */
  readonly scope: McpScope;
  /** The MCP session id, when the request belongs to a session. */
  readonly sessionId: string | undefined;
  /** The id of the worker executing the handler (the session's owner). */
  readonly workerId: string;
  /**
   * Who sent the request, as the verifier established it on the worker that received it (the
   * SDK's `AuthInfo`); `undefined` without `auth`.
   */
  readonly auth: AuthInfo | undefined;
  /** Fires when the client cancels the request or goes away. */
  readonly signal: AbortSignal;
  /**
   * Sends `notifications/progress` for this request. Does nothing when the client did not ask for
   * progress (no `_meta.progressToken`).
   */
  sendProgress(progress: number, total?: number, message?: string): Promise<void>;
  /**
   * Sends a `notifications/message` log entry on this request's stream, unless the session asked
   * for a higher level with `logging/setLevel`.
   */
  log(level: LoggingLevel, data: unknown, logger?: string): Promise<void>;
  /**
   * Asks the client to sample its LLM (`sampling/createMessage`), on this request's stream; the
   * client's answer reaches the session's owner even when it lands on another worker. Rejects when
   * the client did not declare the `sampling` capability.
   */
  createMessage(params: CreateMessageRequestParamsBase): Promise<CreateMessageResult>;
  /**
   * Asks the user for input through the client (`elicitation/create`), on this request's stream.
   * An accepted form answer is checked against `requestedSchema`. Rejects when the client did not
   * declare the matching `elicitation` capability.
   */
  elicitInput(params: ElicitRequestParams): Promise<ElicitResult>;
}

/**
 * Completion candidates for one argument (`completion/complete`), given the partial `value` and the
 * other arguments the client already filled in. Up to 100 are returned to the client.
 */
export type ArgumentCompleter = (
  value: string,
  context: { readonly arguments: Readonly<Record<string, string>> },
) => readonly string[] | Promise<readonly string[]>;

/** A JSON Schema object describing a tool's arguments. */
export interface ToolInputSchema {
  readonly type: 'object';
  readonly properties?: Readonly<Record<string, object>>;
  readonly required?: readonly string[];
  readonly [keyword: string]: unknown;
}

/** A tool of a virtual server. */
export interface ToolDefinition {
  /** Unique within its virtual server. */
  readonly name: string;
  readonly title?: string;
  readonly description?: string;
  /** Arguments are validated against it before the handler runs. */
  readonly inputSchema: ToolInputSchema;
  readonly annotations?: ToolAnnotations;
  readonly handler: (args: Record<string, unknown>, context: HandlerContext) => CallToolResult | Promise<CallToolResult>;
}

/** A resource of a virtual server. */
export interface ResourceDefinition {
  readonly uri: string;
  readonly name: string;
  readonly title?: string;
  readonly description?: string;
  readonly mimeType?: string;
  readonly read: (context: HandlerContext) => ReadResourceResult | Promise<ReadResourceResult>;
}

/** A resource template of a virtual server (listed by `resources/templates/list`). */
export interface ResourceTemplateDefinition {
  readonly uriTemplate: string;
  readonly name: string;
  readonly title?: string;
  readonly description?: string;
  readonly mimeType?: string;
  /**
   * Reads a concrete URI that matches the template; `variables` holds the template's expanded
   * variables.
   */
  readonly read: (
    uri: string,
    variables: Record<string, string | string[]>,
    context: HandlerContext,
  ) => ReadResourceResult | Promise<ReadResourceResult>;
  /** Completers for the template's variables, by variable name (`completion/complete`). */
  readonly complete?: Readonly<Record<string, ArgumentCompleter>>;
}

/** A prompt of a virtual server. */
export interface PromptDefinition {
  readonly name: string;
  readonly title?: string;
  readonly description?: string;
  readonly arguments?: readonly PromptArgument[];
  readonly get: (args: Record<string, string>, context: HandlerContext) => GetPromptResult | Promise<GetPromptResult>;
  /** Completers for the prompt's arguments, by argument name (`completion/complete`). */
  readonly complete?: Readonly<Record<string, ArgumentCompleter>>;
}

/** A catalog item with the virtual server it belongs to. */
export type Scoped<T> = T & { readonly serverId: string };

/** Everything one virtual server exposes. */
/**
 * Caching hints of a virtual server's 2026-07-28 results (`server/discover`, the lists,
 * `resources/read`): how long a client may reuse one, and whether across authorization contexts.
 */
export interface CacheHints {
  /** Milliseconds a result stays fresh. @default 0 (revalidate: lists change at run time) */
  readonly ttlMs?: number;
  /**
   * `'public'`: the same for every caller; `'private'`: one authorization context only. Always
   * `'private'` when an `authorize` policy makes lists differ per principal.
   * @default 'private'
   */
  readonly cacheScope?: 'public' | 'private';
}

/** Options of `upstream()`: a real MCP server whose items a virtual server serves. */
export interface UpstreamOptions {
  /** The upstream's Streamable HTTP endpoint. One of `url` and `command`. */
  url?: string;
  /** A stdio upstream: the program to start (once per worker, never per request). */
  command?: string;
  /** Its arguments. @default [] */
  args?: readonly string[];
  /** Its environment. @default the SDK's safe default (PATH, HOME, …) */
  env?: Record<string, string>;
  /** Its working directory. @default this process's */
  cwd?: string;
  /** Headers sent to an HTTP upstream. The downstream client's `Authorization` is not among them (see `forwardAuthorization`). @default none */
  headers?: Record<string, string>;
  /** Sent as `Authorization: Bearer …` to an HTTP upstream. @default none */
  bearerToken?: string;
  /** Put before the upstream's tool and prompt names (`github_` makes `search` `github_search`). @default '' */
  prefix?: string;
  /** Only these upstream names (tools, prompts) and URIs (resources), before the prefix. @default all */
  include?: { tools?: readonly string[]; prompts?: readonly string[]; resources?: readonly string[] };
  /** Never these. @default none */
  exclude?: { tools?: readonly string[]; prompts?: readonly string[]; resources?: readonly string[] };
  /** How long one upstream request may take; past it the call fails naming the upstream. @default 30000 */
  timeoutMs?: number;
  /**
   * A larger answer is cut with an error naming the upstream: over HTTP while it streams (the
   * bytes of the call's response stream), over stdio once whole (its JSON).
   * @default 4194304 (4 MiB)
   */
  maxAnswerBytes?: number;
  /** Failures in a row (unreachable, closed, timed out) that open the circuit: calls then fail at once. @default 5 */
  breakerFailures?: number;
  /** How long an open circuit fails calls before one may try the upstream again, in ms. @default 30000 */
  breakerCooldownMs?: number;
  /** The name used in errors, logs and metrics. @default the URL, or the command */
  name?: string;
  /**
   * How downstream sessions share the upstream. `'per-client'`: each downstream session has its
   * own upstream session, opened by the worker that owns it on its first call and closed (DELETE)
   * when it ends, hibernates or moves; sampling, elicitation, log messages and resource updates
   * then reach that session alone. `'shared'`: one upstream session per worker for every
   * downstream session (a stateless upstream; a stdio upstream, one process per worker).
   * Lists always come from the worker's shared session: they are taken to be the same for
   * every client. 2026-07-28 requests (no session) use the shared one.
   * @default 'per-client' over Streamable HTTP, 'shared' over stdio
   */
  sessions?: 'per-client' | 'shared';
  /**
   * Sends the downstream caller's own bearer token (the one `auth` verified: `ctx.auth.token`)
   * to an HTTP upstream as `Authorization`, in place of `bearerToken`: on every request of its
   * calls and, per-client, on its upstream session's own requests. This is token passthrough,
   * which the MCP authorization spec forbids unless the upstream is a resource server of the same
   * audience and trust (docs/upstreams.md, Security notes). Not for stdio.
   * @default false
   */
  forwardAuthorization?: boolean;
  /** Per-upstream Prometheus metrics (latency, errors, open upstream sessions, unavailability). @default none */
  metrics?: MetricsOptions;
  /**
   * Told of each upstream call's span once it ends, to record it (an OpenTelemetry exporter, a
   * log). With it, a call whose request came without a `traceparent` starts a trace of its own.
   * @default none (the upstream's own tracing still sees the span as its parent)
   */
  onSpan?: (span: UpstreamSpan) => void;
}

/** One upstream call, as a trace span (`onSpan`). */
export interface UpstreamSpan {
  /** `tools/call add`, `resources/read memo://x`, … (before the prefix). */
  readonly name: string;
  /** The upstream's `name`. */
  readonly upstream: string;
  readonly method: string;
  /** The tool or prompt name, or the resource URI. */
  readonly item: string;
  /** The span's own W3C `traceparent`, sent upstream on every request of the call. */
  readonly traceparent: string;
  /** The downstream request's `traceparent` (the client's, or the forwarding worker's hop span), when it had one. */
  readonly parent?: string;
  /** When the call started, in ms since the epoch. */
  readonly startTime: number;
  readonly durationMs: number;
  readonly outcome: 'ok' | 'error' | 'cancelled';
  /** The error the client was given, when the call failed. */
  readonly error?: string;
}

/** The items an upstream offers now, as catalog items whose handlers call it. */
export interface UpstreamItems {
  readonly tools: readonly ToolDefinition[];
  readonly resources: readonly ResourceDefinition[];
  readonly resourceTemplates: readonly ResourceTemplateDefinition[];
  readonly prompts: readonly PromptDefinition[];
}

/** What a catalog needs of an upstream (`upstream()` makes one). */
export interface UpstreamSource {
  readonly name: string;
  /**
   * Connects (once, shared by every watcher) and calls `listener` with the upstream's items
   * whenever they are (re)listed; returns the function that stops watching.
   */
  watch(listener: (items: UpstreamItems) => void): () => void;
  /** Closes the connection (and a stdio upstream's process). */
  close(): Promise<void>;
}

export interface VirtualServerDefinition {
  readonly tools?: readonly ToolDefinition[];
  readonly resources?: readonly ResourceDefinition[];
  readonly resourceTemplates?: readonly ResourceTemplateDefinition[];
  readonly prompts?: readonly PromptDefinition[];
  /**
   * Whether this server's items also appear on the unscoped `/mcp` endpoint. `false` keeps the
   * server reachable only on `/servers/<id>/mcp`.
   * @default true
   */
  readonly unscoped?: boolean;
  /** 2026-07-28 caching hints for this server's results. @default { ttlMs: 0, cacheScope: 'private' } */
  readonly cacheHints?: CacheHints;
  /** Real MCP servers whose items this virtual server serves too (`upstream()`). @default none */
  readonly upstreams?: readonly UpstreamSource[];
}

/**
 * The source of truth for what each virtual server exposes. `createCatalog()` builds one in
 * memory; implement this interface to back it with anything else.
 *
 * Every list method receives the request's scope and must return only the items inside it.
 */
export interface Catalog {
  /** Whether a virtual server with this id exists. */
  hasServer(serverId: string): boolean;
  listTools(scope: McpScope): readonly Scoped<ToolDefinition>[];
  listResources(scope: McpScope): readonly Scoped<ResourceDefinition>[];
  listResourceTemplates(scope: McpScope): readonly Scoped<ResourceTemplateDefinition>[];
  listPrompts(scope: McpScope): readonly Scoped<PromptDefinition>[];
  /** A virtual server's 2026-07-28 caching hints, when it has its own. Optional. */
  cacheHints?(serverId: string): CacheHints | undefined;
  /**
   * Subscribes to changes of a virtual server's items; returns the unsubscribe function.
   * Optional: used to tell sessions that their lists changed. `kinds` names the lists that
   * changed; when a catalog leaves it out, sessions hear that every list changed.
   */
  onChange?(listener: (serverId: string, kinds?: readonly ListKind[]) => void): () => void;
  /**
   * Subscribes to updates of a resource's content; returns the unsubscribe function. Optional:
   * used to send `notifications/resources/updated` to the sessions subscribed to that URI.
   */
  onResourceUpdated?(listener: (serverId: string, uri: string) => void): () => void;
}

// ---------------------------------------------------------------------------------------------
// Workers and stores
// ---------------------------------------------------------------------------------------------

/** A worker as its peers see it. */
export interface WorkerRecord {
  /** Unique per process; created after fork. Contains only `[A-Za-z0-9_-]`. */
  readonly workerId: string;
  /** Where peers reach this worker's internal listener, e.g. `http://127.0.0.1:41234`. */
  readonly internalUrl: string;
  /** Unix socket path, when the internal listener is a socket rather than a TCP port. */
  readonly socketPath?: string;
}

/** An event every worker of the gateway hears, through the store. */
export type GatewayEvent =
  | {
      /** A virtual server's items changed: its sessions get `notifications/<kind>/list_changed`. */
      readonly type: 'catalog-changed';
      readonly serverId: string;
      /** The lists that changed (every list when absent). */
      readonly kinds?: readonly ListKind[];
      /** The worker it happened on. */
      readonly origin: string;
    }
  | {
      /** A session was revoked (`revokeSession`): its owner ends it at once. */
      readonly type: 'session-revoked';
      readonly sessionId: string;
      readonly origin: string;
    }
  | {
      /** A resource's content changed: its subscribers hear `notifications/resources/updated`. */
      readonly type: 'resource-updated';
      readonly serverId: string;
      readonly uri: string;
      readonly origin: string;
    }
  | {
      /** A 2026-07-28 `subscriptions/listen` was cancelled: whichever worker holds it ends it. */
      readonly type: 'listen-cancelled';
      readonly subscriptionId: string | number;
      readonly principal?: string;
      /** The endpoint it was opened on: a virtual server id, or `*` for `/mcp`. */
      readonly endpoint: string;
      readonly origin: string;
    };

/** Who owns a session, and which endpoint it was initialized on. */
export interface SessionRecord {
  readonly sessionId: string;
  /** The session's owner now (the id names the worker that created it, which may be gone). */
  readonly workerId: string;
  /** `'*'` for the unscoped `/mcp` endpoint, otherwise the virtual server id. */
  readonly scope: string;
  /** Raised by one on every change of owner: a fence against an owner that lost the session. @default 0 */
  readonly epoch?: number;
  /** What another worker needs to rebuild the session (session continuity). */
  readonly snapshot?: SessionSnapshot;
}

/**
 * What a session's rebuild needs, kept in its store record: written at `initialize` and when the
 * log level or the subscriptions change, never on the hot path of ordinary calls.
 */
export interface SessionSnapshot {
  /** The params of the client's `initialize` request: protocol version, capabilities, client info. */
  readonly init: { readonly protocolVersion: string; readonly capabilities: object; readonly clientInfo: object };
  /** The level the client asked for with `logging/setLevel`. */
  readonly logLevel?: string;
  /** The resource URIs the client subscribed to. */
  readonly subscriptions?: readonly string[];
  /** Who opened the session (`principalOf` of its token); a request of anyone else gets 404. */
  readonly principal?: string;
  /** When the session was initialized (ms since the epoch), for `sessionMaxAgeMs`. */
  readonly createdAt?: number;
}

/**
 * Shared knowledge of the gateway's workers and sessions.
 *
 * Routing reads the owner from the session id (the owner writes its worker id into every id it
 * issues) and resolves it through `getWorker`, so a worker serves its own sessions without calling
 * the store at all, and needs one `getWorker` per remote owner. Session records make claims
 * atomic and let a dead worker's sessions be cleaned up.
 *
 * Methods may answer synchronously; the hot path takes advantage of that.
 */
export interface SessionStore {
  /** Announces this worker to its peers. Resolves when peers can route to it. */
  registerWorker(worker: WorkerRecord): Promise<void>;
  /** Removes this worker and every session it owns. */
  deregisterWorker(workerId: string): Promise<void>;
  /** The live worker with this id, or `undefined` when it is unknown or gone. */
  getWorker(workerId: string): WorkerRecord | undefined | Promise<WorkerRecord | undefined>;
  /** Records a new session. Resolves `false`, changing nothing, when the id is already taken. */
  claimSession(record: SessionRecord): Promise<boolean>;
  /** The session's record, or `undefined`. */
  getSession(sessionId: string): SessionRecord | undefined | Promise<SessionRecord | undefined>;
  /** Forgets the session when `workerId` owns it; otherwise does nothing. */
  releaseSession(sessionId: string, workerId: string): Promise<void>;
  /**
   * Replaces the session's snapshot, only when `record.workerId` owns it at `record.epoch`
   * (fenced); resolves whether it did. Needed for session continuity.
   */
  saveSession?(record: SessionRecord): Promise<boolean>;
  /**
   * Takes over a session whose owner is gone, atomically: of several workers racing, one wins.
   * The owner is gone when it is no longer a live worker of the store, or when it is `unreachable`
   * (the caller found nobody listening at its address). Resolves the record as it stands after
   * the attempt: owned by `workerId` with the epoch raised when it won, by the live owner
   * otherwise; `undefined` when there is no such session. Needed for session continuity.
   */
  adoptSession?(sessionId: string, workerId: string, unreachable?: string): Promise<SessionRecord | undefined>;
  /** Removes this worker but keeps its sessions, for other workers to adopt (a drain's hand-off). */
  retireWorker?(workerId: string): Promise<void>;
  /**
   * This worker's membership lease, for a store whose membership lapses without heartbeats:
   * `until` (ms since the epoch) the store surely counts it live, and how many times it `lapsed`
   * (a heartbeat came after the lease had run out, as after a pause). After a lapse this worker
   * checks each session's record before serving it again, and drops one adopted elsewhere
   * meanwhile (fencing).
   */
  lease?(workerId: string): { readonly until: number; readonly lapses: number } | undefined;
  /**
   * Called by the owner on every request of a session it serves, without waiting: a store with
   * idle expiry slides it here, throttled, and never delays the request.
   */
  touchSession?(sessionId: string, workerId: string, scope: string): void;
  /** Drops any cached address of a worker that a forward found gone. */
  forgetWorker?(workerId: string): void;
  /**
   * Tells every worker sharing the store (this one included) about an event, such as a virtual
   * server whose tool set changed. Optional: without it, events stay on the worker they happen on.
   */
  publish?(event: GatewayEvent): Promise<void>;
  /**
   * The records of the sessions a principal opened (`principalOf`), for an admin endpoint. Not on
   * any request's path; it may scan every record.
   */
  listSessions?(filter: { readonly principal: string }): Promise<SessionRecord[]>;
  /** Receives every published event; returns the unsubscribe function. */
  subscribe?(listener: (event: GatewayEvent) => void): () => void;
  /** Stops the store's own timers and listeners. Never closes a client it was given. */
  close?(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/**
 * One process's identity in the gateway, as `createAffinityWorker()` returns it (an
 * `AffinityWorker`): pass the same one to every middleware of the process.
 */
export interface GatewayWorker {
  /** Unique per process, created after fork. */
  readonly workerId: string;
  /** This worker's record once `listen()` resolved. */
  readonly workerRecord: WorkerRecord | undefined;
  /** Whether `drain()` was called: new sessions are refused. */
  readonly isDraining: boolean;
  /** Requests being served or forwarded now (streams excluded). */
  readonly inFlight: number;
  /** Starts the internal listener with `handler` and registers the worker with the store. */
  listen(handler: RequestListener): Promise<WorkerRecord>;
  /** Graceful shutdown: refuse new sessions, serve for `periodMs`, finish in-flight work, then close. */
  drain(periodMs?: number): Promise<void>;
  /** Ends sessions, deregisters, closes listeners, connections and timers. Idempotent. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Authentication and authorization
// ---------------------------------------------------------------------------------------------

/** What `authorize` is asked: may this principal use this virtual server, or this item of it? */
export interface AuthorizeRequest {
  /** The verified token's `AuthInfo`. */
  readonly auth: AuthInfo;
  /** The virtual server (of the item, for an item). */
  readonly serverId: string;
  /** `'server'`: the virtual server itself (asked first, and for every item of it). */
  readonly kind: 'server' | 'tool' | 'resource' | 'resourceTemplate' | 'prompt';
  /** The tool or prompt name, the resource URI or the template; absent for `'server'`. */
  readonly name?: string;
}

/** Decides; `false` hides the item (absent from lists, and a call gets the unknown-item error). */
export type AuthorizePolicy = (request: AuthorizeRequest) => boolean | Promise<boolean>;

/**
 * The gateway as an OAuth 2.1 resource server (the MCP authorization spec). The worker that
 * receives a request verifies its bearer token once; a forwarded request carries the principal
 * under the hop's signature, and the owner does not verify it again.
 */
export interface AuthOptions {
  /** Verifies a bearer token: `jwtVerifier()` from this package, or any SDK `OAuthTokenVerifier`. */
  verifier: OAuthTokenVerifier;
  /**
   * The gateway's public origin (and path prefix, if it is mounted under one), as clients reach it:
   * resource identifiers and metadata URLs are built on it.
   */
  publicUrl: string;
  /** The authorization servers named in the Protected Resource Metadata (RFC 9728). */
  authorizationServers: readonly string[];
  /** Scopes every token must carry; otherwise 403 `insufficient_scope`. @default [] */
  requiredScopes?: readonly string[];
  /** Scopes listed in the metadata as supported. @default requiredScopes */
  scopesSupported?: readonly string[];
  /** Who may use which virtual server and item. @default everything is allowed */
  authorize?: AuthorizePolicy;
}

/** Options of `createAffinityWorker()`: the identity every middleware of one process shares. */
export interface AffinityWorkerOptions {
  /**
   * The shared secret (at least 32 characters) that signs hops between workers, or several during
   * a rotation: the first signs, any verifies.
   */
  secret: string | readonly string[];
  /**
   * Bearer-token authentication and authorization: a request without a valid token gets 401 with
   * `WWW-Authenticate: Bearer resource_metadata="…"`; a session belongs to its principal.
   * @default none (no authentication)
   */
  auth?: AuthOptions;
  /**
   * Where workers and sessions are recorded.
   * @default the embedded cluster store in a `node:cluster` worker, otherwise a new `MemoryStore`
   */
  store?: SessionStore;
  /**
   * This worker's id. Leave it unset: a random id is created in this process, after fork.
   * @default `w` + 12 random hex digits
   */
  workerId?: string;
  /**
   * The internal listener, distinct from the public port; forwards go only there.
   * `{ host, port }` listens on TCP (port 0 picks a free port, even in a cluster worker);
   * `advertisedHost` and `advertisedPort` are what peers connect to, when that differs (a pod IP,
   * a NAT mapping; required when `host` is a wildcard such as 0.0.0.0);
   * `{ socketPath }` listens on a unix socket (one machine only).
   * @default { host: '127.0.0.1', port: 0 }
   */
  internal?: { host?: string; port?: number; advertisedHost?: string; advertisedPort?: number } | { socketPath: string };
  /**
   * Largest clock difference accepted on a signed hop, in milliseconds.
   * @default 30000
   */
  maxClockSkewMs?: number;
  /**
   * How long a forward waits for the owner's response headers, in milliseconds.
   * @default 30000
   */
  forwardTimeoutMs?: number;
  /**
   * How long a forward waits to connect to the owner, in milliseconds. A host that vanished
   * never refuses a connection; past this the request gets 503 with `Retry-After`.
   * @default 1000
   */
  connectTimeoutMs?: number;
  /**
   * A session with no request and no open stream for this long is ended, on its owner and in
   * the store, in milliseconds.
   * @default 1800000 (30 minutes)
   */
  sessionIdleTimeoutMs?: number;
  /**
   * Requests this worker serves or forwards at once (streams excluded); beyond, 503 with
   * `Retry-After`.
   * @default 1024
   */
  maxConcurrentRequests?: number;
  /**
   * Requests of one session served at once by its owner; beyond, 429 with `Retry-After`, so one
   * busy session cannot take the whole worker.
   * @default 32
   */
  maxConcurrentPerSession?: number;
  /**
   * Streams this worker serves or forwards at once (GET streams and 2026-07-28
   * `subscriptions/listen` streams, which stay open by design); beyond, 503 with `Retry-After`.
   * @default 10000
   */
  maxOpenStreams?: number;
  /**
   * Sessions outlive their owner: when it dies, drains or its host disappears, the next request is
   * served by another worker, which rebuilds the session from its store record (same id, scope,
   * protocol version, client capabilities and info, log level, subscriptions). `false` restores
   * the old behaviour: a session ends with its owner (404).
   * @default true when the store can (it has `saveSession` and `adoptSession`)
   */
  sessionContinuity?: boolean;
  /**
   * A session's absolute lifetime, however busy it is: past it, its next request gets 404 (the
   * client initializes again) and the sweeper ends it. In milliseconds.
   * @default none (only the idle timeout ends sessions)
   */
  sessionMaxAgeMs?: number;
  /**
   * A session with no request and no open stream for this long hibernates: its SDK objects are
   * dropped and only its store record remains; the next request rebuilds it. In milliseconds.
   * Needs session continuity.
   * @default 300000 (5 minutes)
   */
  hibernateAfterMs?: number;
  /**
   * Sessions kept awake (with their SDK objects) per worker; beyond, the least recently used idle
   * ones hibernate. Never a refusal. Needs session continuity.
   * @default the heap limit / 256 KiB (about 16,000 with a 4 GiB heap)
   */
  maxSessionsPerWorker?: number;
  /**
   * Adds `mcp-affinity-received-by`, `mcp-affinity-served-by` and `mcp-affinity-forwarded`
   * response headers, which name workers: useful in demos and tests, off in production.
   * @default false
   */
  exposeWorkerHeaders?: boolean;
  /** @default silent */
  logger?: Logger;
  /**
   * Prometheus metrics: forwards by outcome and their latency, owner lookups (cache hits and
   * misses), refused hops by reason, sessions owned, sessions ended by reason, store errors.
   * @default off
   */
  metrics?: MetricsOptions;
  /**
   * Host names (without port) a request's `Host` header may carry; anything else gets 403.
   * Checked on the worker that receives the request, before any forward. Set it to the names
   * clients use (DNS-rebinding protection for a server on loopback or behind a proxy).
   * @default not checked
   */
  allowedHosts?: readonly string[];
  /**
   * Origins (`scheme://host[:port]`) a request's `Origin` header may name; a request with another
   * Origin gets 403 (MCP requires it). Requests without `Origin` (not from a browser) pass.
   * `'*'` allows any origin.
   * @default loopback origins only: http(s)://localhost, 127.0.0.1 or [::1], any port
   */
  allowedOrigins?: readonly string[] | '*';
  /**
   * Adds this response header, naming the worker that owns the request's session, so a load
   * balancer that learns routes from responses (HAProxy `stick store-response`, nginx
   * `sticky learn`) can pin the session and make forwards rare. The in-app forward stays the
   * safety net.
   * @default off
   */
  routeHeader?: string;
}

/** Options shared by the middlewares that read the request body. */
export interface BodyLimitOptions {
  /**
   * Largest accepted request body, in bytes; larger bodies get 413.
   * @default 1048576 (1 MiB)
   */
  bodyLimit?: number;
  /**
   * Longest wait for a request's body, in milliseconds; then 408. A request counts against
   * `maxConcurrentRequests` only once its body is in, so a client that sends headers and no body
   * holds no slot.
   * @default 10000
   */
  bodyTimeoutMs?: number;
}

/** Options of `sessionAffinity()`. */
export interface SessionAffinityOptions extends BodyLimitOptions {
  /** The worker this middleware runs in (from `createAffinityWorker()`). */
  worker: GatewayWorker;
}

/** Options of `internalForwardGuard()`. */
export interface InternalForwardGuardOptions extends BodyLimitOptions {
  /** The worker this middleware runs in; its secrets, clock window and replay cache are used. */
  worker: GatewayWorker;
}

/** Options of `serverScope()`. */
export interface ServerScopeOptions extends BodyLimitOptions {
  /** Tells which virtual servers exist; any other id gets 404. */
  catalog: Catalog;
  /**
   * What a virtual server id may look like. Anything else gets 404.
   * @default /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/
   */
  serverIdPattern?: RegExp;
}

/** Options of `rpcDispatch()`. */
export interface RpcDispatchOptions {
  /** The worker this middleware runs in; sessions it creates are owned by it. */
  worker: GatewayWorker;
  /** What each virtual server exposes. */
  catalog: Catalog;
  /**
   * Name and version announced in the `initialize` result.
   * @default { name: 'express-mcp-affinity', version: the package version }
   */
  serverInfo?: { name: string; version: string; title?: string };
  /** Text returned as `instructions` in the `initialize` result. @default none */
  instructions?: string;
  /**
   * Answer POST requests with one JSON body instead of an SSE stream. Progress notifications
   * are then not delivered.
   * @default false
   */
  jsonResponse?: boolean;
  /**
   * Makes streams resumable: a client that lost its stream reconnects with `Last-Event-ID`
   * (through any worker; the GET is forwarded to the session's owner) and receives what it missed.
   * `MemoryEventStore`, `RedisEventStore` or any SDK `EventStore`.
   * @default none (streams are not resumable)
   */
  eventStore?: EventStore;
}

/** Options of the composite `mcpAffinity()`. */
export interface McpAffinityOptions
  extends AffinityWorkerOptions,
    BodyLimitOptions,
    Pick<RpcDispatchOptions, 'serverInfo' | 'instructions' | 'jsonResponse' | 'eventStore'>,
    Pick<ServerScopeOptions, 'serverIdPattern'> {
  /** What each virtual server exposes. */
  catalog: Catalog;
}

/** The parts of a `prom-client` registry the metrics use. */
export interface MetricsRegistryLike {
  getSingleMetric(name: string): unknown;
}

/**
 * Prometheus metrics. Pass the `prom-client` module (an optional peer): it is typed structurally
 * here, so this package's types do not require it.
 */
export interface MetricsOptions {
  /** The `prom-client` module itself (its namespace object). */
  promClient: {
    Counter: new (config: any) => { inc(labels: Record<string, string>, value?: number): void };
    Histogram: new (config: any) => { observe(labels: Record<string, string>, value: number): void };
    Gauge: new (config: any) => { set(labels: Record<string, string>, value: number): void };
    register: MetricsRegistryLike;
  };
  /**
   * Where the metrics are registered.
   * @default promClient.register
   */
  registry?: MetricsRegistryLike;
  /**
   * Prefix of every metric name.
   * @default 'mcp_affinity_'
   */
  prefix?: string;
}
