/**
 * `RedisStore`: workers and sessions shared by gateways on many hosts, through an `ioredis` client
 * you created and connected (the store never quits it).
 *
 * - Every key lives under one hash tag, so the multi-key scripts run unchanged on Redis Cluster.
 * - Workers are keys with a heartbeat TTL: a host that dies silently drops out within
 *   `heartbeatTtlMs`. Lookups of remote workers are cached for `workerCacheMs` (a hit costs no
 *   round trip), and forgotten at once when a forward finds the owner gone.
 * - Sessions are hashes with an idle TTL that activity slides, throttled to one write per
 *   `touchIntervalMs` per session, fire-and-forget (the owner's hot path never waits on Redis).
 * - Every call is bounded by `operationTimeoutMs` and fails fast while the client is not ready, so
 *   no request hangs on a dead Redis; heartbeats re-create what a restarted Redis lost.
 */
import { ErrorCodes, McpAffinityError } from '../errors.js';
import { checkLogger, checkOptionsObject, invalidOption, positiveInteger } from '../options/validations.js';
import type { GatewayEvent, Logger, SessionRecord, SessionStore, WorkerRecord } from '../types.js';
import { SCRIPTS, type Script, toRecord } from './redis-scripts.js';
import type { RedisClientLike, RedisStoreOptions, RedisStoreStats, RedisSubscriberLike } from './redis-types.js';

const OWNER = 'RedisStore';

export class RedisStore implements SessionStore {
  private readonly client: RedisClientLike;
  private readonly keyPrefix: string;
  private readonly sessionTtlMs: number;
  private readonly touchIntervalMs: number;
  private readonly heartbeatIntervalMs: number;
  private readonly heartbeatTtlMs: number;
  private readonly workerCacheMs: number;
  private readonly operationTimeoutMs: number;
  private readonly serveStaleOnError: boolean;
  private readonly logger: Logger;
  private readonly workerCache = new Map<string, { record: WorkerRecord; fetchedAt: number }>();
  private readonly lastTouch = new Map<string, number>();
  private readonly lookups = new Map<string, Promise<WorkerRecord | undefined>>();
  private subscriber: RedisSubscriberLike | undefined;
  private readonly eventListeners = new Set<(event: GatewayEvent) => void>();
  /** Worker ids Redis did not know, and when it said so. */
  private readonly unknownWorkers = new Map<string, number>();
  private readonly heartbeats = new Map<string, NodeJS.Timeout>();
  /** Per registered worker: until when its membership surely lasts (ms since the epoch). */
  private readonly leases = new Map<string, { until: number; lapses: number }>();
  private readonly counters: RedisStoreStats = { roundTrips: 0, workerCacheHits: 0, workerCacheMisses: 0 };

  constructor(options: RedisStoreOptions) {
    checkOptionsObject(OWNER, options, [
      'client',
      'prefix',
      'sessionTtlMs',
      'touchIntervalMs',
      'heartbeatIntervalMs',
      'heartbeatTtlMs',
      'workerCacheMs',
      'operationTimeoutMs',
      'serveStaleOnError',
      'logger',
    ]);
    const client = options.client as unknown as Record<string, unknown> | undefined;
    if (!client || typeof client.evalsha !== 'function' || typeof client.set !== 'function') {
      throw invalidOption(
        OWNER,
        'client',
        options.client,
        'expected an ioredis client you created, e.g. new Redis(process.env.REDIS_URL); the store never quits it.',
      );
    }
    this.client = options.client;
    const prefix = options.prefix ?? 'mcp-affinity:';
    if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
      throw invalidOption(
        OWNER,
        'prefix',
        prefix,
        'expected a string without { or } (the store adds its own hash tag), such as "mcp-affinity:".',
      );
    }
    // One hash tag for every key: multi-key scripts stay within one Redis Cluster slot.
    this.keyPrefix = `${prefix}{affinity}:`;
    this.sessionTtlMs = positiveInteger(OWNER, 'sessionTtlMs', options.sessionTtlMs, 30 * 60_000);
    this.touchIntervalMs = positiveInteger(
      OWNER,
      'touchIntervalMs',
      options.touchIntervalMs,
      Math.min(60_000, Math.ceil(this.sessionTtlMs / 10)),
    );
    this.heartbeatIntervalMs = positiveInteger(OWNER, 'heartbeatIntervalMs', options.heartbeatIntervalMs, 2000);
    this.heartbeatTtlMs = positiveInteger(OWNER, 'heartbeatTtlMs', options.heartbeatTtlMs, 3 * this.heartbeatIntervalMs);
    if (this.heartbeatTtlMs <= this.heartbeatIntervalMs) {
      throw invalidOption(
        OWNER,
        'heartbeatTtlMs',
        this.heartbeatTtlMs,
        `expected more than heartbeatIntervalMs (${this.heartbeatIntervalMs}), such as ${3 * this.heartbeatIntervalMs}, or a live worker would flap.`,
      );
    }
    this.workerCacheMs = positiveInteger(OWNER, 'workerCacheMs', options.workerCacheMs, this.heartbeatIntervalMs);
    this.operationTimeoutMs = positiveInteger(OWNER, 'operationTimeoutMs', options.operationTimeoutMs, 1000);
    if (options.serveStaleOnError !== undefined && typeof options.serveStaleOnError !== 'boolean') {
      throw invalidOption(OWNER, 'serveStaleOnError', options.serveStaleOnError, 'expected true or false.');
    }
    this.serveStaleOnError = options.serveStaleOnError ?? true;
    this.logger = checkLogger(OWNER, options.logger);
  }

  private workerKey(workerId: string): string {
    return `${this.keyPrefix}worker:${workerId}`;
  }
  private sessionKey(sessionId: string): string {
    return `${this.keyPrefix}session:${sessionId}`;
  }
  private sessionSetKey(workerId: string): string {
    return `${this.keyPrefix}sessions:${workerId}`;
  }

  /** Runs one Redis call within the operation timeout; fails at once while the client is not ready. */
  private async call<T>(run: () => Promise<T>): Promise<T> {
    if (this.client.status !== 'ready') {
      throw new McpAffinityError(ErrorCodes.STORE_UNAVAILABLE, `RedisStore: Redis is not available (client status ${this.client.status})`);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new McpAffinityError(ErrorCodes.STORE_UNAVAILABLE, `RedisStore: Redis did not answer within ${this.operationTimeoutMs} ms`),
          ),
        this.operationTimeoutMs,
      );
    });
    try {
      return await Promise.race([run(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async run(s: Script, keys: string[], args: Array<string | number>): Promise<unknown> {
    const client = this.client;
    try {
      return await client.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!String((error as Error)?.message).includes('NOSCRIPT')) throw error;
      return client.eval(s.source, keys.length, ...keys, ...args);
    }
  }

  /** Waits (bounded) for a client that is still connecting, as at start-up. */
  private async ready(ms: number): Promise<void> {
    if (this.client.status === 'ready' || typeof this.client.once !== 'function') return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.client.once!('ready', () => (clearTimeout(timer), resolve()));
    });
  }

  async registerWorker(worker: WorkerRecord): Promise<void> {
    await this.ready(5 * this.operationTimeoutMs);
    this.unknownWorkers.delete(worker.workerId);
    const key = this.workerKey(worker.workerId);
    const value = JSON.stringify(worker);
    const sentAt = Date.now();
    const created = await this.call(() => this.client.set(key, value, 'PX', this.heartbeatTtlMs, 'NX'));
    if (created !== 'OK') {
      const existing = await this.call(() => this.client.get(key));
      if (existing !== value) {
        throw new McpAffinityError(
          ErrorCodes.INVALID_OPTION,
          `RedisStore: worker id ${worker.workerId} is already registered by another live worker (${existing}); leave workerId unset so each process gets its own.`,
        );
      }
    }
    const lease = { until: sentAt + this.heartbeatTtlMs, lapses: 0 };
    this.leases.set(worker.workerId, lease);
    clearInterval(this.heartbeats.get(worker.workerId));
    const beat = setInterval(() => {
      const at = Date.now();
      // The lease ran out before this beat (the process was paused, or Redis was away).
      if (at > lease.until) lease.lapses++;
      // SET, not PEXPIRE: after a Redis restart this re-creates the membership.
      this.call(() => this.client.set(key, value, 'PX', this.heartbeatTtlMs)).then(
        () => void (lease.until = Math.max(lease.until, at + this.heartbeatTtlMs)),
        (error: unknown) => this.logger.warn(`[express-mcp-affinity] heartbeat of ${worker.workerId} failed: ${String(error)}`),
      );
    }, this.heartbeatIntervalMs);
    beat.unref();
    this.heartbeats.set(worker.workerId, beat);
  }

  /**
   * Until when Redis surely counts this worker live (the time a heartbeat Redis acknowledged was
   * sent, plus its TTL), and how often it lapsed: past it (a worker paused, or cut off from Redis)
   * its sessions may have been adopted elsewhere.
   */
  lease(workerId: string): { until: number; lapses: number } | undefined {
    return this.leases.get(workerId);
  }

  async deregisterWorker(workerId: string): Promise<void> {
    clearInterval(this.heartbeats.get(workerId));
    this.heartbeats.delete(workerId);
    this.workerCache.delete(workerId);
    await this.call(() =>
      this.run(SCRIPTS.deregister, [this.workerKey(workerId), this.sessionSetKey(workerId)], [`${this.keyPrefix}session:`]),
    );
  }

  getWorker(workerId: string): WorkerRecord | undefined | Promise<WorkerRecord | undefined> {
    const cached = this.workerCache.get(workerId);
    const now = Date.now();
    if (cached && now - cached.fetchedAt < this.workerCacheMs) {
      this.counters.workerCacheHits++;
      return cached.record;
    }
    const unknownSince = this.unknownWorkers.get(workerId);
    if (unknownSince !== undefined && now - unknownSince < Math.min(this.workerCacheMs, 1000)) {
      this.counters.workerCacheHits++;
      return undefined;
    }
    this.counters.workerCacheMisses++;
    // Requests that miss together share one GET (the entry expires under load for all of them).
    const inFlight = this.lookups.get(workerId);
    if (inFlight) return inFlight;
    this.counters.roundTrips++;
    const lookup = this.call(() => this.client.get(this.workerKey(workerId)))
      .then(
        (value) => {
          if (!value) {
            // Remembered briefly, so ids naming no worker cannot make every request a round trip.
            if (this.unknownWorkers.size >= 10_000) this.unknownWorkers.clear(); // bounded, whatever ids arrive
            this.unknownWorkers.set(workerId, Date.now());
            return undefined;
          }
          const record = JSON.parse(value) as WorkerRecord;
          this.workerCache.set(workerId, { record, fetchedAt: Date.now() });
          return record;
        },
        (error: unknown) => {
          if (this.serveStaleOnError && cached) {
            this.logger.warn(`[express-mcp-affinity] Redis unavailable; routing to ${workerId} from a stale cache entry`);
            return cached.record;
          }
          throw error;
        },
      )
      .finally(() => this.lookups.delete(workerId));
    this.lookups.set(workerId, lookup);
    return lookup;
  }

  /** Drops a cached worker, e.g. when a forward found nobody listening at its address. */
  forgetWorker(workerId: string): void {
    this.workerCache.delete(workerId);
  }

  async claimSession(record: SessionRecord): Promise<boolean> {
    this.counters.roundTrips++;
    const result = await this.call(() =>
      this.run(
        SCRIPTS.claim,
        [this.sessionKey(record.sessionId), this.sessionSetKey(record.workerId)],
        [record.workerId, record.scope, this.sessionTtlMs, record.sessionId, JSON.stringify(record.snapshot ?? null)],
      ),
    );
    if (Number(result) === 1) this.lastTouch.set(record.sessionId, Date.now());
    return Number(result) === 1;
  }

  async getSession(sessionId: string): Promise<SessionRecord | undefined> {
    this.counters.roundTrips++;
    const fields = await this.call(() => this.run(SCRIPTS.getSession, [this.sessionKey(sessionId)], []));
    return toRecord(sessionId, fields);
  }

  /** The sessions of a principal (a SCAN of the gateway's session keys: for admin use, not per request). */
  async listSessions(filter: { principal: string }): Promise<SessionRecord[]> {
    const prefix = this.sessionKey('');
    const keys = (await this.call(() => this.run(SCRIPTS.listSessions, [prefix], [`${prefix}*`, filter.principal]))) as string[];
    const records = await Promise.all(keys.map((key) => this.getSession(key.slice(prefix.length))));
    return records.filter((r): r is SessionRecord => r !== undefined);
  }

  async saveSession(record: SessionRecord): Promise<boolean> {
    const result = await this.call(() =>
      this.run(
        SCRIPTS.save,
        [this.sessionKey(record.sessionId)],
        [record.workerId, record.epoch ?? 0, JSON.stringify(record.snapshot ?? null)],
      ),
    );
    return Number(result) === 1;
  }

  async adoptSession(sessionId: string, workerId: string, unreachable?: string): Promise<SessionRecord | undefined> {
    this.counters.roundTrips++;
    const fields = await this.call(() =>
      this.run(SCRIPTS.adopt, [this.sessionKey(sessionId)], [workerId, this.keyPrefix, unreachable ?? '', this.sessionTtlMs, sessionId]),
    );
    return toRecord(sessionId, fields);
  }

  /** Leaves the gateway but keeps this worker's sessions, for others to adopt. */
  async retireWorker(workerId: string): Promise<void> {
    clearInterval(this.heartbeats.get(workerId));
    this.heartbeats.delete(workerId);
    this.workerCache.delete(workerId);
    await this.call(() => this.client.del(this.workerKey(workerId)));
  }

  async releaseSession(sessionId: string, workerId: string): Promise<void> {
    this.lastTouch.delete(sessionId);
    await this.call(() => this.run(SCRIPTS.release, [this.sessionKey(sessionId), this.sessionSetKey(workerId)], [workerId, sessionId]));
  }

  touchSession(sessionId: string, workerId: string, scope: string): void {
    const now = Date.now();
    const last = this.lastTouch.get(sessionId);
    if (last !== undefined && now - last < this.touchIntervalMs) return;
    this.lastTouch.set(sessionId, now);
    this.call(() =>
      this.run(SCRIPTS.touch, [this.sessionKey(sessionId), this.sessionSetKey(workerId)], [workerId, scope, this.sessionTtlMs, sessionId]),
    ).catch((error: unknown) => {
      // Try again on the next request rather than after a whole interval.
      this.lastTouch.delete(sessionId);
      this.logger.debug?.(`[express-mcp-affinity] refreshing session ${sessionId} failed: ${String(error)}`);
    });
  }

  private eventsChannel(): string {
    return `${this.keyPrefix}events`;
  }

  /** Published on a Redis channel that every worker of the gateway subscribes to. */
  async publish(event: GatewayEvent): Promise<void> {
    if (typeof this.client.publish !== 'function')
      throw new McpAffinityError(ErrorCodes.STORE_UNAVAILABLE, 'RedisStore: the client cannot publish');
    await this.call(() => this.client.publish!(this.eventsChannel(), JSON.stringify(event)));
  }

  /** The first subscriber opens one subscribing connection (`client.duplicate()`), closed by `close()`. */
  subscribe(listener: (event: GatewayEvent) => void): () => void {
    if (!this.subscriber && typeof this.client.duplicate === 'function') {
      const subscriber = this.client.duplicate();
      this.subscriber = subscriber;
      subscriber.on('message', (channel, message) => {
        if (channel !== this.eventsChannel()) return;
        let event: GatewayEvent;
        try {
          event = JSON.parse(message) as GatewayEvent;
        } catch {
          return;
        }
        for (const l of [...this.eventListeners]) l(event);
      });
      subscriber
        .subscribe(this.eventsChannel())
        .catch((error: unknown) => this.logger.warn(`[express-mcp-affinity] subscribing to gateway events failed: ${String(error)}`));
    }
    this.eventListeners.add(listener);
    return () => {
      this.eventListeners.delete(listener);
      // The last listener gone: the subscribing connection goes too (the next subscribe opens one).
      if (this.eventListeners.size === 0) void this.quitSubscriber();
    };
  }

  private async quitSubscriber(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    await subscriber?.quit().catch(() => undefined);
  }

  /** Lookup counters since the store was created. */
  stats(): RedisStoreStats {
    return { ...this.counters };
  }

  /** Stops heartbeats and clears caches. Does not quit the client, and does not deregister. */
  async close(): Promise<void> {
    for (const timer of this.heartbeats.values()) clearInterval(timer);
    this.heartbeats.clear();
    this.workerCache.clear();
    this.unknownWorkers.clear();
    this.lastTouch.clear();
    this.eventListeners.clear();
    this.leases.clear();
    // The subscribing connection is the store's own (a duplicate), unlike the client it was given.
    await this.quitSubscriber();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
