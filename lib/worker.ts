/**
 * One process's identity in the gateway: its worker id, its internal listener, the secrets that
 * sign hops, the store, and the sessions it owns. The four middlewares of one process share one.
 */
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import http, { type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReplayCache } from './hop-signature.js';
import { createMetrics, type MetricsSink, type SessionEnd } from './metrics.js';
import { ClusterStore } from './stores/cluster-store.js';
import { MemoryStore } from './stores/memory-store.js';
import type { AffinityWorkerOptions, Logger, SessionStore, WorkerRecord } from './types.js';
import { checkLogger, checkOptionsObject, invalidOption, positiveInteger, requireObjectWith } from './validations.js';

const OWNER = 'createAffinityWorker';
const WORKER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** 24 random bytes: 192 bits, beyond the 128 the session id must carry. */
const SESSION_RANDOM_BYTES = 24;
/** `<workerId>.<32 base64url characters>`, as `newSessionId()` makes them. */
const SESSION_ID_PATTERN = /^([A-Za-z0-9_-]{1,64})\.[A-Za-z0-9_-]{32}$/;
export const MIN_SECRET_LENGTH = 32;

/** A session this worker owns, as the worker needs to know it. */
export interface OwnedSession {
  /** `'*'` for `/mcp`, otherwise the virtual server id. */
  readonly scope: string;
  /** When a request of this session last started or ended (ms since the epoch). */
  lastActivity: number;
  /** Requests of this session being served now, open streams included: a busy session never idles out. */
  active: number;
  /** Ends the session on this worker and releases it in the store. */
  close(reason?: SessionEnd): Promise<void>;
}

export const AFFINITY_WORKER_OPTIONS = [
  'secret',
  'store',
  'workerId',
  'internal',
  'maxClockSkewMs',
  'forwardTimeoutMs',
  'connectTimeoutMs',
  'sessionIdleTimeoutMs',
  'maxConcurrentRequests',
  'maxConcurrentPerSession',
  'exposeWorkerHeaders',
  'logger',
  'metrics',
  'routeHeader',
  'allowedHosts',
  'allowedOrigins',
] as const;

function resolveSecrets(value: unknown): string[] {
  const list = typeof value === 'string' ? [value] : Array.isArray(value) ? value : undefined;
  if (!list || list.length === 0 || !list.every((s) => typeof s === 'string' && s.length >= MIN_SECRET_LENGTH)) {
    // Never echo a secret into an error message (and so into logs): describe it.
    const received =
      typeof value === 'string' ? `a string of ${value.length} characters` : Array.isArray(value) ? `an array of ${value.length}` : value;
    throw invalidOption(
      OWNER,
      'secret',
      received,
      `expected a string of at least ${MIN_SECRET_LENGTH} characters shared by every worker (or an array of them, newest first, while rotating); generate one with \`node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"\`.`,
    );
  }
  return [...list];
}

type InternalListen =
  | { kind: 'tcp'; host: string; port: number; advertisedHost: string; advertisedPort: number | undefined }
  | { kind: 'socket'; socketPath: string };

function resolveInternal(value: unknown): InternalListen {
  if (value === undefined) return { kind: 'tcp', host: '127.0.0.1', port: 0, advertisedHost: '127.0.0.1', advertisedPort: undefined };
  if (typeof value !== 'object' || value === null) {
    throw invalidOption(
      OWNER,
      'internal',
      value,
      'expected { host?, port?, advertisedHost? } or { socketPath }; leave it unset for 127.0.0.1 on a free port.',
    );
  }
  const v = value as Record<string, unknown>;
  if (v.socketPath !== undefined) {
    if (typeof v.socketPath === 'string' && v.socketPath.length > 0) return { kind: 'socket', socketPath: v.socketPath };
    throw invalidOption(OWNER, 'internal.socketPath', v.socketPath, 'expected a file path such as /run/gateway/worker-1.sock.');
  }
  const host = v.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0)
    throw invalidOption(OWNER, 'internal.host', host, "expected an address to listen on, such as '127.0.0.1' or '10.0.0.5'.");
  const port = v.port ?? 0;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw invalidOption(
      OWNER,
      'internal.port',
      port,
      'expected an integer from 0 to 65535 (0 picks a free port, even in a cluster worker).',
    );
  }
  const advertisedHost = v.advertisedHost ?? (host === '0.0.0.0' || host === '::' ? undefined : host);
  if (typeof advertisedHost !== 'string' || advertisedHost === '0.0.0.0' || advertisedHost === '::' || advertisedHost.length === 0) {
    throw invalidOption(
      OWNER,
      'internal.advertisedHost',
      advertisedHost,
      'expected the address peers use to reach this worker (such as the pod IP), not a wildcard; set it whenever host is 0.0.0.0 or ::.',
    );
  }
  const advertisedPort = v.advertisedPort;
  if (
    advertisedPort !== undefined &&
    (typeof advertisedPort !== 'number' || !Number.isInteger(advertisedPort) || advertisedPort < 1 || advertisedPort > 65535)
  ) {
    throw invalidOption(
      OWNER,
      'internal.advertisedPort',
      advertisedPort,
      'expected the port peers connect to (1 to 65535) when it differs from the listening port, as behind NAT; leave it unset otherwise.',
    );
  }
  return { kind: 'tcp', host, port, advertisedHost, advertisedPort };
}

const LOOPBACK_ORIGIN = /^https?:\/\/(?:localhost|127\.0\.0\.1|\[::1\])(?::\d{1,5})?$/i;

/** The host name of a Host header, without port, lower case (`[::1]` keeps its brackets). */
function hostName(host: string): string {
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':', 1)[0]!;
  return name.toLowerCase();
}

/** Resolves `allowedHosts` and `allowedOrigins` once into a check: `'host'`/`'origin'` names what failed. */
function resolveOriginPolicy(
  hosts: unknown,
  origins: unknown,
): (host: string | undefined, origin: string | undefined) => 'host' | 'origin' | undefined {
  if (hosts !== undefined && !(Array.isArray(hosts) && hosts.every((h) => typeof h === 'string' && h.length > 0))) {
    throw invalidOption(
      OWNER,
      'allowedHosts',
      hosts,
      "expected an array of host names such as ['localhost', 'mcp.example.com'], or leave it unset.",
    );
  }
  if (
    origins !== undefined &&
    origins !== '*' &&
    !(Array.isArray(origins) && origins.every((o) => typeof o === 'string' && /^https?:\/\/[^/]+$/i.test(o)))
  ) {
    throw invalidOption(
      OWNER,
      'allowedOrigins',
      origins,
      "expected '*' or an array of origins such as ['https://app.example.com'] (scheme, host and port, no path).",
    );
  }
  const hostSet = hosts === undefined ? undefined : new Set((hosts as string[]).map((h) => h.toLowerCase()));
  const originSet = Array.isArray(origins) ? new Set(origins.map((o: string) => o.toLowerCase())) : undefined;
  return (host, origin) => {
    if (hostSet && (host === undefined || !hostSet.has(hostName(host)))) return 'host';
    if (origin === undefined || origins === '*') return undefined;
    if (originSet ? !originSet.has(origin.toLowerCase()) : !LOOPBACK_ORIGIN.test(origin)) return 'origin';
    return undefined;
  };
}

/** The identity and shared state of one gateway process. Create it with `createAffinityWorker()`. */
export class AffinityWorker {
  readonly workerId: string;
  /** Secrets, newest first: the first signs, any verifies. */
  readonly secrets: readonly string[];
  readonly store: SessionStore;
  readonly logger: Logger;
  readonly maxClockSkewMs: number;
  readonly forwardTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly sessionIdleTimeoutMs: number;
  readonly maxConcurrentRequests: number;
  readonly maxConcurrentPerSession: number;
  readonly exposeWorkerHeaders: boolean;
  /** Response header naming the owner, for load balancers that learn routes; `undefined` when off. */
  readonly routeHeader: string | undefined;
  readonly metrics: MetricsSink;
  /** Whether a request's Host and Origin headers may reach this gateway (resolved from the options). */
  readonly admitsOrigin: (host: string | undefined, origin: string | undefined) => 'host' | 'origin' | undefined;
  /** Whether a `logger.debug` was given: structured per-request lines are built only then. */
  readonly debugLogging: boolean;
  /** Keep-alive connections to peers, so a hop does not pay for a TCP handshake. */
  readonly agent: http.Agent;
  readonly replayCache: ReplayCache;
  /** Sessions this worker owns, by id. Serving them needs no store call. */
  readonly sessions = new Map<string, OwnedSession>();

  private readonly ownsStore: boolean;
  private readonly internal: InternalListen;
  private internalServer: http.Server | undefined;
  private record: WorkerRecord | undefined;
  private closing: Promise<void> | undefined;
  private draining: Promise<void> | undefined;
  private readonly idleSweeper: NodeJS.Timeout;
  /** Requests this worker is serving or forwarding, streams excluded (they never end by themselves). */
  private requestsInFlight = 0;
  private readonly settledWaiters = new Set<() => void>();
  private readonly pauses = new Map<NodeJS.Timeout, () => void>();
  private readonly closeHooks: Array<() => void> = [];

  constructor(options: AffinityWorkerOptions) {
    checkOptionsObject(OWNER, options, AFFINITY_WORKER_OPTIONS);
    this.secrets = resolveSecrets(options.secret);
    if (options.workerId !== undefined && (typeof options.workerId !== 'string' || !WORKER_ID_PATTERN.test(options.workerId))) {
      throw invalidOption(
        OWNER,
        'workerId',
        options.workerId,
        'expected 1 to 64 characters of [A-Za-z0-9_-]; leave it unset to get a random id created in this process.',
      );
    }
    // Created here, in the running process, never inherited from a parent: forks get their own.
    this.workerId = options.workerId ?? `w${randomBytes(6).toString('hex')}`;
    if (options.store !== undefined) {
      requireObjectWith(
        OWNER,
        'store',
        options.store,
        ['registerWorker', 'deregisterWorker', 'getWorker', 'claimSession', 'getSession', 'releaseSession'],
        'pass a MemoryStore, ClusterStore or RedisStore, or leave it unset.',
      );
    }
    this.ownsStore = options.store === undefined;
    this.store = options.store ?? (cluster.isWorker ? new ClusterStore() : new MemoryStore());
    this.internal = resolveInternal(options.internal);
    this.maxClockSkewMs = positiveInteger(OWNER, 'maxClockSkewMs', options.maxClockSkewMs, 30_000);
    this.forwardTimeoutMs = positiveInteger(OWNER, 'forwardTimeoutMs', options.forwardTimeoutMs, 30_000);
    this.connectTimeoutMs = positiveInteger(OWNER, 'connectTimeoutMs', options.connectTimeoutMs, 1000);
    this.sessionIdleTimeoutMs = positiveInteger(OWNER, 'sessionIdleTimeoutMs', options.sessionIdleTimeoutMs, 30 * 60_000);
    this.maxConcurrentRequests = positiveInteger(OWNER, 'maxConcurrentRequests', options.maxConcurrentRequests, 1024);
    this.maxConcurrentPerSession = positiveInteger(OWNER, 'maxConcurrentPerSession', options.maxConcurrentPerSession, 32);
    if (options.exposeWorkerHeaders !== undefined && typeof options.exposeWorkerHeaders !== 'boolean') {
      throw invalidOption(OWNER, 'exposeWorkerHeaders', options.exposeWorkerHeaders, 'expected true or false.');
    }
    this.exposeWorkerHeaders = options.exposeWorkerHeaders ?? false;
    this.logger = checkLogger(OWNER, options.logger);
    this.debugLogging = options.logger !== undefined && typeof options.logger.debug === 'function';
    if (
      options.routeHeader !== undefined &&
      (typeof options.routeHeader !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(options.routeHeader))
    ) {
      throw invalidOption(
        OWNER,
        'routeHeader',
        options.routeHeader,
        "expected a header name such as 'mcp-affinity-route', or leave it unset.",
      );
    }
    this.routeHeader = options.routeHeader?.toLowerCase();
    this.admitsOrigin = resolveOriginPolicy(options.allowedHosts, options.allowedOrigins);
    this.metrics = createMetrics(OWNER, options.metrics, this.workerId, () => this.sessions.size);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, scheduling: 'lifo' });
    this.replayCache = new ReplayCache(this.maxClockSkewMs);
    this.idleSweeper = setInterval(
      () => this.expireIdleSessions(Date.now()),
      Math.max(50, Math.min(60_000, Math.floor(this.sessionIdleTimeoutMs / 4))),
    );
    this.idleSweeper.unref();
  }

  /**
   * Ends the sessions nobody used for `sessionIdleTimeoutMs` (clients such as the MCP inspector
   * never send DELETE), freeing their memory and store records. A session with a request or a
   * stream open is busy, however long ago it started.
   */
  expireIdleSessions(now: number): number {
    let expired = 0;
    for (const [id, session] of this.sessions) {
      if (session.active > 0 || now - session.lastActivity < this.sessionIdleTimeoutMs) continue;
      expired++;
      this.logger.info(`[express-mcp-affinity] session ${id} expired after ${this.sessionIdleTimeoutMs} ms idle`);
      session
        .close('expired')
        .catch((error: unknown) => this.logger.warn(`[express-mcp-affinity] closing idle session ${id} failed: ${String(error)}`));
    }
    return expired;
  }

  /**
   * Counts a request until its response closes. Returns `false`, counting nothing, when the
   * worker is at `maxConcurrentRequests`.
   */
  admitRequest(res: http.ServerResponse): boolean {
    if (this.requestsInFlight >= this.maxConcurrentRequests) return false;
    this.requestsInFlight++;
    let settled = false;
    res.once('close', () => {
      if (settled) return;
      settled = true;
      this.requestsInFlight--;
      if (this.requestsInFlight === 0) for (const wake of this.settledWaiters) wake();
    });
    return true;
  }

  /** Requests being served or forwarded now (streams excluded). */
  get inFlight(): number {
    return this.requestsInFlight;
  }

  /** Whether `drain()` was called: new sessions are refused here. */
  get isDraining(): boolean {
    return this.draining !== undefined;
  }

  /**
   * Graceful shutdown: refuses new sessions at once (503 with `Retry-After`, so clients start
   * them elsewhere), keeps serving this worker's sessions for `periodMs`, waits for the requests
   * in flight, then ends the sessions (their next request gets 404, so clients re-initialize
   * elsewhere) and closes like `close()`. Stop accepting public connections yourself first
   * (`server.close()`), so new work reaches other workers.
   */
  drain(periodMs = 10_000): Promise<void> {
    this.draining ??= (async () => {
      this.logger.info(`[express-mcp-affinity] worker ${this.workerId} draining: ${this.sessions.size} sessions, ${periodMs} ms`);
      await this.wait(periodMs);
      // In-flight requests may finish, but not forever: a hung handler must not block shutdown.
      await Promise.race([this.settled(), this.wait(this.forwardTimeoutMs)]);
      await this.close();
    })();
    return this.draining;
  }

  /** A pause that `close()` cuts short. */
  private wait(ms: number): Promise<void> {
    if (this.closing) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => (this.pauses.delete(timer), resolve()), ms);
      this.pauses.set(timer, resolve);
    });
  }

  /** Resolves when no request is in flight. */
  private settled(): Promise<void> {
    if (this.requestsInFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        this.settledWaiters.delete(wake);
        resolve();
      };
      this.settledWaiters.add(wake);
    });
  }

  /** Runs `hook` when the worker closes (listeners the middlewares registered elsewhere). */
  onClose(hook: () => void): void {
    this.closeHooks.push(hook);
  }

  /** A new session id owned by this worker: `<workerId>.<192 random bits>`. */
  newSessionId(): string {
    return `${this.workerId}.${randomBytes(SESSION_RANDOM_BYTES).toString('base64url')}`;
  }

  /** The worker id written into a session id, or `undefined` when the id is not one of ours. */
  static ownerOf(sessionId: string): string | undefined {
    // Only the shape this package issues: anything else is unknown here, without a lookup or a hop.
    return SESSION_ID_PATTERN.exec(sessionId)?.[1];
  }

  /** This worker's record once `listen()` resolved. */
  get workerRecord(): WorkerRecord | undefined {
    return this.record;
  }

  /**
   * Starts the internal listener with the same request handler as the public one (your Express
   * app), so a forwarded request runs the same chain, then registers this worker with the store.
   */
  async listen(handler: RequestListener): Promise<WorkerRecord> {
    if (this.internalServer) throw new Error(`AffinityWorker ${this.workerId}: listen() was already called`);
    const server = http.createServer(handler);
    // Longer than the agent keeps idle sockets, so a peer never writes to a socket we just closed.
    server.keepAliveTimeout = 65_000;
    this.internalServer = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const onListening = (): void => (server.off('error', reject), resolve());
      if (this.internal.kind === 'socket') server.listen({ path: this.internal.socketPath, exclusive: true }, onListening);
      // exclusive: in a cluster worker, port 0 would otherwise be one port shared by all workers.
      else server.listen({ host: this.internal.host, port: this.internal.port, exclusive: true }, onListening);
    });
    const internal = this.internal;
    const record: WorkerRecord =
      internal.kind === 'socket'
        ? { workerId: this.workerId, internalUrl: 'http://localhost', socketPath: internal.socketPath }
        : {
            workerId: this.workerId,
            internalUrl: `http://${internal.advertisedHost.includes(':') ? `[${internal.advertisedHost}]` : internal.advertisedHost}:${internal.advertisedPort ?? (server.address() as AddressInfo).port}`,
          };
    await this.store.registerWorker(record);
    this.record = record;
    this.logger.info(`[express-mcp-affinity] worker ${this.workerId} listening internally on ${record.socketPath ?? record.internalUrl}`);
    return record;
  }

  /**
   * Ends every session this worker owns, deregisters, and closes the internal listener, the
   * peer connections and the timers. Safe to call more than once.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.store
        .deregisterWorker(this.workerId)
        .catch((error: unknown) => this.logger.warn(`[express-mcp-affinity] deregister failed: ${String(error)}`));
      await Promise.allSettled([...this.sessions.values()].map((s) => s.close()));
      this.sessions.clear();
      const server = this.internalServer;
      if (server) {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      }
      this.agent.destroy();
      this.replayCache.close();
      clearInterval(this.idleSweeper);
      for (const [timer, resolve] of this.pauses) clearTimeout(timer), resolve();
      this.pauses.clear();
      for (const wake of [...this.settledWaiters]) wake();
      for (const hook of this.closeHooks.splice(0)) hook();
      this.metrics.close();
      if (this.ownsStore) await this.store.close?.();
    })();
    return this.closing;
  }
}

/** Creates the identity shared by the four middlewares of one process. */
export function createAffinityWorker(options: AffinityWorkerOptions): AffinityWorker {
  return new AffinityWorker(options);
}
