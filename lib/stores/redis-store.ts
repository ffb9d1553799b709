/**
 * `RedisStore`: workers and sessions shared by gateways on many hosts, through an `ioredis` client
 * you created and connected (the store never quits it).
 *
 * - Key layout version 2 (redis-keys.ts): sessions spread over 256 hash tags (buckets), so on a
 *   Redis Cluster they spread over every master; every script touches keys of one slot.
 * - Workers are keys with a heartbeat TTL: a host that dies silently drops out within
 *   `heartbeatTtlMs`. Lookups of remote workers are cached for `workerCacheMs` (a hit costs no
 *   round trip), and forgotten at once when a forward finds the owner gone.
 * - Sessions are hashes with an idle TTL that activity slides, throttled to one write per
 *   `touchIntervalMs` per session, fire-and-forget (the owner's hot path never waits on Redis).
 * - Every call is bounded by `operationTimeoutMs` and fails fast while the client is not ready, so
 *   no request hangs on a dead Redis; heartbeats re-create what a restarted Redis lost.
 */
import { ErrorCodes, McpAffinityError } from '../errors.js';
import type { GatewayEvent, SessionRecord, SessionStore, WorkerRecord } from '../types.js';
import { RedisCalls } from './redis-calls.js';
import { RedisEvents } from './redis-events.js';
import { RedisKeys } from './redis-keys.js';
import { type ResolvedRedisStoreOptions, resolveRedisStoreOptions } from './redis-options.js';
import { SCRIPTS, type Script, toRecord } from './redis-scripts.js';
import type { RedisClientLike, RedisStoreOptions, RedisStoreStats } from './redis-types.js';

export class RedisStore implements SessionStore {
  private readonly client: RedisClientLike;
  private readonly keys: RedisKeys;
  private readonly events: RedisEvents;
  /** Whether a version-1 worker was met (warned about once). */
  private legacyWarned = false;
  private readonly calls: RedisCalls;
  /** The options, checked, with their defaults. */
  private readonly o: ResolvedRedisStoreOptions;
  private readonly workerCache = new Map<string, { record: WorkerRecord; fetchedAt: number }>();
  private readonly lastTouch = new Map<string, number>();
  private readonly lookups = new Map<string, Promise<WorkerRecord | undefined>>();
  /** Worker ids Redis did not know, and when it said so. */
  private readonly unknownWorkers = new Map<string, number>();
  private readonly heartbeats = new Map<string, NodeJS.Timeout>();
  /** Per registered worker: until when its membership surely lasts (ms since the epoch). */
  private readonly leases = new Map<string, { until: number; lapses: number }>();
  private readonly counters: RedisStoreStats = { roundTrips: 0, workerCacheHits: 0, workerCacheMisses: 0 };

  constructor(options: RedisStoreOptions) {
    const o = resolveRedisStoreOptions(options);
    this.o = o;
    this.client = o.client;
    this.keys = new RedisKeys(o.prefix);
    this.calls = new RedisCalls(this.client, this.o.operationTimeoutMs);
    this.events = new RedisEvents(this.client, this.keys.events(), this.o.logger);
  }

  private workerKey(workerId: string): string {
    return this.keys.worker(workerId);
  }
  private call<T>(run: () => Promise<T>): Promise<T> {
    return this.calls.call(run);
  }
  private run(s: Script, keys: string[], args: Array<string | number>): Promise<unknown> {
    return this.calls.run(s, keys, args);
  }

  async registerWorker(worker: WorkerRecord): Promise<void> {
    await this.calls.ready(5 * this.o.operationTimeoutMs);
    this.unknownWorkers.delete(worker.workerId);
    const key = this.workerKey(worker.workerId);
    const value = JSON.stringify(worker);
    const sentAt = Date.now();
    const created = await this.call(() => this.client.set(key, value, 'PX', this.o.heartbeatTtlMs, 'NX'));
    if (created !== 'OK') {
      const existing = await this.call(() => this.client.get(key));
      if (existing !== value) {
        throw new McpAffinityError(
          ErrorCodes.INVALID_OPTION,
          `RedisStore: worker id ${worker.workerId} is already registered by another live worker (${existing}); leave workerId unset so each process gets its own.`,
        );
      }
    }
    const lease = { until: sentAt + this.o.heartbeatTtlMs, lapses: 0 };
    this.leases.set(worker.workerId, lease);
    clearInterval(this.heartbeats.get(worker.workerId));
    const beat = setInterval(() => {
      const at = Date.now();
      // The lease ran out before this beat (the process was paused, or Redis was away).
      if (at > lease.until) lease.lapses++;
      // SET, not PEXPIRE: after a Redis restart this re-creates the membership.
      this.call(() => this.client.set(key, value, 'PX', this.o.heartbeatTtlMs)).then(
        () => void (lease.until = Math.max(lease.until, at + this.o.heartbeatTtlMs)),
        (error: unknown) => this.o.logger.warn(`[express-mcp-affinity] heartbeat of ${worker.workerId} failed: ${String(error)}`),
      );
    }, this.o.heartbeatIntervalMs);
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
    // One script per bucket (one Cluster slot each), sent together; then the membership.
    await this.call(() =>
      Promise.all(
        this.keys
          .buckets()
          .map((bucket) => this.run(SCRIPTS.deregister, [`${bucket}sessions:${workerId}`], [`${bucket}session:`, workerId])),
      ),
    );
    await this.call(() => this.client.del(this.workerKey(workerId)));
  }

  getWorker(workerId: string): WorkerRecord | undefined | Promise<WorkerRecord | undefined> {
    const cached = this.workerCache.get(workerId);
    const now = Date.now();
    if (cached && now - cached.fetchedAt < this.o.workerCacheMs) {
      this.counters.workerCacheHits++;
      return cached.record;
    }
    const unknownSince = this.unknownWorkers.get(workerId);
    if (unknownSince !== undefined && now - unknownSince < Math.min(this.o.workerCacheMs, 1000)) {
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
            this.checkLegacy(workerId);
            return undefined;
          }
          const record = JSON.parse(value) as WorkerRecord;
          this.workerCache.set(workerId, { record, fetchedAt: Date.now() });
          return record;
        },
        (error: unknown) => {
          if (this.o.serveStaleOnError && cached) {
            this.o.logger.warn(`[express-mcp-affinity] Redis unavailable; routing to ${workerId} from a stale cache entry`);
            return cached.record;
          }
          throw error;
        },
      )
      .finally(() => this.lookups.delete(workerId));
    this.lookups.set(workerId, lookup);
    return lookup;
  }

  /** Warns once when a worker unknown here is registered under key layout version 1 (mixed versions). */
  private checkLegacy(workerId: string): void {
    if (this.legacyWarned) return;
    this.call(() => this.client.get(this.keys.legacyWorker(workerId))).then(
      (value) => {
        if (!value || this.legacyWarned) return;
        this.legacyWarned = true;
        this.o.logger.warn(
          `[express-mcp-affinity] worker ${workerId} is registered under RedisStore key layout v1 ({affinity} keys): gateways of both layouts share this prefix and cannot route to each other; upgrade every host (docs/multi-host.md)`,
        );
      },
      () => undefined,
    );
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
        [this.keys.session(record.sessionId), this.keys.sessionSet(record.sessionId, record.workerId)],
        [record.workerId, record.scope, this.o.sessionTtlMs, record.sessionId, JSON.stringify(record.snapshot ?? null)],
      ),
    );
    if (Number(result) === 1) this.lastTouch.set(record.sessionId, Date.now());
    return Number(result) === 1;
  }

  async getSession(sessionId: string): Promise<SessionRecord | undefined> {
    this.counters.roundTrips++;
    const fields = await this.call(() => this.run(SCRIPTS.getSession, [this.keys.session(sessionId)], []));
    return toRecord(sessionId, fields);
  }

  /**
   * The sessions of a principal: a SCAN of the gateway's session keys on every master of a Cluster
   * (or the one server), for admin use, not per request.
   */
  async listSessions(filter: { principal: string }): Promise<SessionRecord[]> {
    const keys = await this.calls.scanAll(this.keys.sessionPattern());
    const ids = [...new Set(keys.map((key) => this.keys.sessionIdOf(key)))];
    const records = await Promise.all(ids.map((id) => this.getSession(id)));
    return records.filter((r): r is SessionRecord => r?.snapshot?.principal === filter.principal);
  }

  async saveSession(record: SessionRecord): Promise<boolean> {
    const result = await this.call(() =>
      this.run(
        SCRIPTS.save,
        [this.keys.session(record.sessionId)],
        [record.workerId, record.epoch ?? 0, JSON.stringify(record.snapshot ?? null)],
      ),
    );
    return Number(result) === 1;
  }

  /**
   * The owner's liveness is a key of another slot than the session's: read first, then a
   * compare-and-set script moves the session only while that gone owner still holds it.
   */
  async adoptSession(sessionId: string, workerId: string, unreachable?: string): Promise<SessionRecord | undefined> {
    let record = unreachable ? await this.casAdopt(sessionId, workerId, unreachable) : await this.getSession(sessionId);
    if (!record || record.workerId === workerId) return record;
    this.counters.roundTrips++;
    const live = await this.call(() => this.client.get(this.workerKey(record!.workerId)));
    if (live === null) record = await this.casAdopt(sessionId, workerId, record.workerId);
    return record;
  }

  private async casAdopt(sessionId: string, workerId: string, goneOwner: string): Promise<SessionRecord | undefined> {
    this.counters.roundTrips++;
    const fields = await this.call(() =>
      this.run(
        SCRIPTS.adopt,
        [this.keys.session(sessionId)],
        [workerId, this.keys.bucketOf(sessionId), goneOwner, this.o.sessionTtlMs, sessionId],
      ),
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
    await this.call(() =>
      this.run(SCRIPTS.release, [this.keys.session(sessionId), this.keys.sessionSet(sessionId, workerId)], [workerId, sessionId]),
    );
  }

  touchSession(sessionId: string, workerId: string, scope: string): void {
    const now = Date.now();
    const last = this.lastTouch.get(sessionId);
    if (last !== undefined && now - last < this.o.touchIntervalMs) return;
    this.lastTouch.set(sessionId, now);
    this.call(() =>
      this.run(
        SCRIPTS.touch,
        [this.keys.session(sessionId), this.keys.sessionSet(sessionId, workerId)],
        [workerId, scope, this.o.sessionTtlMs, sessionId],
      ),
    ).catch((error: unknown) => {
      // Try again on the next request rather than after a whole interval.
      this.lastTouch.delete(sessionId);
      this.o.logger.debug?.(`[express-mcp-affinity] refreshing session ${sessionId} failed: ${String(error)}`);
    });
  }

  /** Published on a Redis channel that every worker of the gateway subscribes to. */
  async publish(event: GatewayEvent): Promise<void> {
    await this.call(() => this.events.publish(event));
  }

  /** The first subscriber opens one subscribing connection (`client.duplicate()`), closed by `close()`. */
  subscribe(listener: (event: GatewayEvent) => void): () => void {
    return this.events.subscribe(listener);
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
    this.leases.clear();
    // The subscribing connection is the store's own (a duplicate), unlike the client it was given.
    await this.events.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
