/**
 * One process's identity in the gateway, and the parts its middlewares share: the configuration
 * (resolved once), the store, the internal listener, the forwarder, the replay cache, the session
 * registry, admission, the Host/Origin check and metrics. It owns their lifecycle: `drain()` and
 * `close()` (also `await using`) end what it started.
 */
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { type BearerCheck, createBearerCheck } from './auth/bearer-check.js';
import { ErrorCodes, McpAffinityError } from './errors.js';
import { Forwarder } from './hop/forwarder.js';
import { ReplayCache } from './hop/replay-cache.js';
import { Admission } from './http/admission.js';
import { type OriginCheck, resolveOriginPolicy } from './http/origin-policy.js';
import { InternalListener } from './internal-listener.js';
import { isSessionless } from './mcp/sessionless.js';
import { createMetrics, type MetricsSink } from './metrics.js';
import { invalidOption } from './options/validations.js';
import { resolveSecrets, resolveWorkerConfig, WORKER_OWNER, type WorkerConfig } from './options/worker-config.js';
import { newSessionId, ownerOf } from './session-id.js';
import { MovedSessions } from './sessions/moved-sessions.js';
import { SessionRegistry } from './sessions/session-registry.js';
import { ClusterStore } from './stores/cluster-store.js';
import { MemoryStore } from './stores/memory-store.js';
import type { AffinityWorkerOptions, GatewayWorker, Logger, SessionRecord, SessionStore, WorkerRecord } from './types.js';

/** The identity and shared state of one gateway process. Create it with `createAffinityWorker()`. */
export class AffinityWorker implements GatewayWorker {
  readonly workerId: string;
  readonly config: WorkerConfig;
  readonly store: SessionStore;
  readonly logger: Logger;
  readonly metrics: MetricsSink;
  /** Whether a request's Host and Origin may reach this gateway. */
  readonly admitsOrigin: OriginCheck;
  readonly admission: Admission;
  /** Open GET streams, bounded on their own. */
  readonly streams: Admission;
  readonly forwarder: Forwarder;
  readonly replayCache: ReplayCache;
  /** Sessions this worker owns. Serving them needs no store call. */
  readonly sessions: SessionRegistry;
  /** Where sessions whose id names another worker live now (adopted after their owner left). */
  readonly movedSessions = new MovedSessions();
  /** Checks a request's bearer token, when `auth` is on. */
  readonly bearerCheck: BearerCheck | undefined;

  private currentSecrets: readonly string[];
  private readonly ownsStore: boolean;
  private readonly internal: InternalListener;
  private record: WorkerRecord | undefined;
  private closing: Promise<void> | undefined;
  private draining: Promise<void> | undefined;
  private readonly pauses = new Map<NodeJS.Timeout, () => void>();
  private readonly closeHooks: Array<() => void> = [];

  constructor(options: AffinityWorkerOptions) {
    const config = resolveWorkerConfig(options);
    this.config = config;
    // Created here, in the running process, never inherited from a parent: forks get their own.
    this.workerId = config.workerId ?? `w${randomBytes(6).toString('hex')}`;
    this.admitsOrigin = resolveOriginPolicy(WORKER_OWNER, options.allowedHosts, options.allowedOrigins);
    this.ownsStore = config.store === undefined;
    this.store = config.store ?? (cluster.isWorker ? new ClusterStore() : new MemoryStore());
    const continuity = resolveContinuity(config.sessionContinuity, this.store);
    this.logger = config.logger;
    this.metrics = createMetrics(WORKER_OWNER, options.metrics, this.workerId, () => this.sessions.size);
    this.admission = new Admission(config.maxConcurrentRequests);
    this.streams = new Admission(config.maxOpenStreams);
    this.internal = new InternalListener(config.internal);
    this.replayCache = new ReplayCache(config.maxClockSkewMs);
    this.currentSecrets = config.secrets;
    this.forwarder = new Forwarder({
      ...config,
      secrets: () => this.currentSecrets,
      workerId: this.workerId,
      metrics: this.metrics,
      store: this.store,
    });
    this.sessions = new SessionRegistry({ ...config, continuity, workerId: this.workerId, store: this.store, metrics: this.metrics });
    this.bearerCheck = config.auth && createBearerCheck(config.auth);
  }

  /** The hop secrets now, newest first: the first signs, any verifies. */
  get secrets(): readonly string[] {
    return this.currentSecrets;
  }

  /**
   * Replaces the hop secrets without a restart (checked like the `secret` option). Roll out in
   * three steps, each on every worker and host before the next: `[old, new]` (still signs with
   * old, accepts new), `[new, old]` (signs with new), `[new]`. At no step does a worker sign with a
   * secret another does not accept.
   */
  rotateSecrets(secrets: string | readonly string[]): void {
    this.currentSecrets = resolveSecrets(secrets);
    this.logger.info(`[express-mcp-affinity] worker ${this.workerId}: hop secrets rotated (${this.currentSecrets.length})`);
  }

  /**
   * Ends a session from any worker or host: its store record is deleted at once (no worker adopts
   * or routes it any more) and its owner, told through the store's events, ends it. Resolves
   * whether there was such a session.
   */
  async revokeSession(sessionId: string): Promise<boolean> {
    const record = await this.store.getSession(sessionId);
    await this.sessions.revoke(sessionId);
    if (!record) return false;
    await this.store.releaseSession(sessionId, record.workerId);
    await this.store.publish?.({ type: 'session-revoked', sessionId, origin: this.workerId });
    return true;
  }

  /** The sessions a principal opened, gateway-wide, from the store (`principalOf(auth)`). */
  async listSessions(filter: { principal: string }): Promise<SessionRecord[]> {
    if (!this.store.listSessions)
      throw new McpAffinityError(ErrorCodes.STORE_UNAVAILABLE, 'this store cannot list sessions (no listSessions())');
    return this.store.listSessions(filter);
  }

  get exposeWorkerHeaders(): boolean {
    return this.config.exposeWorkerHeaders;
  }

  get routeHeader(): string | undefined {
    return this.config.routeHeader;
  }

  /** Counts a request until its response closes; `false` when at `maxConcurrentRequests`. */
  admitRequest(res: ServerResponse): boolean {
    return this.admission.admit(res);
  }

  /**
   * Counts a request this worker serves or forwards, once its body is in: a GET (a stream, open
   * for long) against `maxOpenStreams`, anything else against `maxConcurrentRequests`.
   */
  admit(req: IncomingMessage, res: ServerResponse): boolean {
    // A stream stays open by design: counted among streams (a 2026-07-28 listen is one too).
    const stream = req.method === 'GET' || (isSessionless(req) && req.headers['mcp-method'] === 'subscriptions/listen');
    return stream ? this.streams.admit(res) : this.admission.admit(res);
  }

  /** Requests being served or forwarded now (streams excluded). */
  get inFlight(): number {
    return this.admission.inFlight;
  }

  /** Whether `drain()` was called: new sessions are refused here. */
  get isDraining(): boolean {
    return this.draining !== undefined;
  }

  /** Ends the sessions nobody used for `sessionIdleTimeoutMs`; returns how many. */
  expireIdleSessions(now: number): number {
    return this.sessions.expireIdle(now);
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
      // With continuity, new requests of its sessions now go to other workers (421 / 503), so
      // that the requests in flight can settle under traffic.
      if (this.sessions.continuity) this.sessions.beginHandOff();
      // In-flight requests may finish, but not forever: a hung handler must not block shutdown.
      await Promise.race([this.admission.settled(), this.wait(this.config.forwardTimeoutMs)]);
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

  /** Runs `hook` when the worker closes (listeners the middlewares started). */
  onClose(hook: () => void): void {
    this.closeHooks.push(hook);
  }

  /** A new session id owned by this worker: `<workerId>.<192 random bits>`. */
  newSessionId(): string {
    return newSessionId(this.workerId);
  }

  /** The worker id written into a session id, or `undefined` when the id is not one of ours. */
  static ownerOf(sessionId: string): string | undefined {
    return ownerOf(sessionId);
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
    const record = await this.internal.listen(this.workerId, handler);
    await this.store.registerWorker(record);
    this.record = record;
    this.logger.info(`[express-mcp-affinity] worker ${this.workerId} listening internally on ${record.socketPath ?? record.internalUrl}`);
    return record;
  }

  /**
   * Ends every session this worker owns, deregisters, and closes the internal listener, the peer
   * connections, the timers and the listeners the middlewares started; closes the store when the
   * worker made it. Safe to call more than once.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const leaving = (error: unknown) => this.logger.warn(`[express-mcp-affinity] deregister failed: ${String(error)}`);
      if (this.sessions.continuity) {
        // Hand off first (hops for its sessions get 421 from now on), then leave the store: its
        // sessions stay there, and peers adopt them, never while this worker still serves them.
        await this.sessions.close();
        await this.store.retireWorker!(this.workerId).catch(leaving);
      } else {
        await this.store.deregisterWorker(this.workerId).catch(leaving);
        await this.sessions.close();
      }
      await this.internal.close();
      this.forwarder.close();
      this.replayCache.close();
      for (const [timer, resolve] of this.pauses) clearTimeout(timer), resolve();
      this.pauses.clear();
      this.admission.release();
      for (const hook of this.closeHooks.splice(0)) hook();
      this.metrics.close();
      if (this.ownsStore) await this.store.close?.();
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Continuity is on when asked for, or by default when the store can do it. */
function resolveContinuity(wanted: boolean | undefined, store: SessionStore): boolean {
  const able = ['saveSession', 'adoptSession', 'retireWorker'].every(
    (m) => typeof (store as unknown as Record<string, unknown>)[m] === 'function',
  );
  if (wanted === true && !able) {
    throw invalidOption(
      WORKER_OWNER,
      'sessionContinuity',
      wanted,
      'the store has no saveSession(), adoptSession() and retireWorker(); use MemoryStore, or leave sessionContinuity unset.',
    );
  }
  return wanted ?? able;
}

/** Creates the identity shared by the four middlewares of one process. */
export function createAffinityWorker(options: AffinityWorkerOptions): AffinityWorker {
  return new AffinityWorker(options);
}

/** The `worker` option of a middleware, checked. */
export function resolveWorkerOption(owner: string, worker: unknown): AffinityWorker {
  if (!(worker instanceof AffinityWorker)) {
    throw invalidOption(
      owner,
      'worker',
      worker,
      'expected the object returned by createAffinityWorker({ secret }); create one per process and pass it to every middleware.',
    );
  }
  return worker;
}
