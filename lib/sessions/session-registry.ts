/**
 * The sessions this worker owns, and their lifecycle: an id claimed in the store (with what a
 * rebuild needs) before the session exists, routable once initialized, touched on every request
 * (throttled by the store), bounded per session, and ended by DELETE, idle expiry or close, which
 * release it in the store. With session continuity, an idle session hibernates (its SDK objects
 * dropped, its record kept), and a drain hands the sessions off for other workers to adopt.
 * Serving an awake session costs no store round trip.
 */
import type { ServerResponse } from 'node:http';
import { sessionRef } from '../hop/forwarder.js';
import type { MetricsSink, SessionEnd } from '../metrics.js';
import { newSessionId } from '../session-id.js';
import type { Logger, SessionSnapshot, SessionStore } from '../types.js';
import type { OwnedSession } from './owned-session.js';

export interface SessionRegistryDeps {
  readonly workerId: string;
  readonly store: SessionStore;
  readonly metrics: MetricsSink;
  readonly logger: Logger;
  readonly sessionIdleTimeoutMs: number;
  readonly sessionMaxAgeMs: number;
  readonly maxConcurrentPerSession: number;
  readonly continuity: boolean;
  readonly hibernateAfterMs: number;
  readonly maxSessionsPerWorker: number;
}

export class SessionRegistry {
  private readonly sessions = new Map<string, OwnedSession>();
  /** Hibernated sessions: last activity in whole seconds (a small number per session, not objects). */
  private readonly hibernated = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;
  /** Rebuilds in progress: concurrent requests of one waking session share one. */
  private readonly waking = new Map<string, Promise<OwnedSession>>();
  /** The store lease's lapse count when each session was last known to be ours (fencing). */
  private readonly verifiedAt = new WeakMap<OwnedSession, number>();
  /** Set by a drain's hand-off: sessions are no longer served here. */
  handedOff = false;

  constructor(private readonly deps: SessionRegistryDeps) {
    const period = Math.min(deps.sessionIdleTimeoutMs, deps.continuity ? deps.hibernateAfterMs : Number.POSITIVE_INFINITY);
    this.sweeper = setInterval(() => this.expireIdle(Date.now()), Math.max(50, Math.min(60_000, Math.floor(period / 4))));
    this.sweeper.unref();
  }

  get continuity(): boolean {
    return this.deps.continuity;
  }

  get(sessionId: string): OwnedSession | undefined {
    return this.sessions.get(sessionId);
  }

  has(sessionId: string): boolean {
    return this.sessions.has(sessionId);
  }

  /** Awake or hibernated here: routed to this worker without a lookup. */
  knows(sessionId: string): boolean {
    return this.sessions.has(sessionId) || this.hibernated.has(sessionId);
  }

  /** Whether the session sleeps here (its record is in the store). */
  isHibernated(sessionId: string): boolean {
    return this.hibernated.has(sessionId);
  }

  /** Awake sessions. */
  get size(): number {
    return this.sessions.size;
  }

  get hibernatedCount(): number {
    return this.hibernated.size;
  }

  values(): IterableIterator<OwnedSession> {
    return this.sessions.values();
  }

  /**
   * A new session id owned by this worker, recorded in the store first, so a store that cannot
   * record it refuses the initialize instead of creating a session no peer could route to.
   * `undefined` when the store refused or failed.
   */
  async claim(scope: string, snapshot: SessionSnapshot): Promise<string | undefined> {
    const { store, workerId, logger, metrics } = this.deps;
    const sessionId = newSessionId(workerId);
    try {
      if (await store.claimSession({ sessionId, workerId, scope, epoch: 0, snapshot })) return sessionId;
    } catch (error) {
      logger.error(`[express-mcp-affinity] could not record a new session: ${String(error)}`);
      metrics.storeError('claimSession');
    }
    return undefined;
  }

  /** The session awake, rebuilding it with `rebuild` once however many requests ask at once. */
  wake(sessionId: string, rebuild: () => Promise<OwnedSession>): Promise<OwnedSession> {
    const awake = this.sessions.get(sessionId);
    if (awake) return Promise.resolve(awake);
    let waking = this.waking.get(sessionId);
    if (!waking) {
      waking = rebuild().finally(() => this.waking.delete(sessionId));
      this.waking.set(sessionId, waking);
    }
    return waking;
  }

  /**
   * Whether the session may be served without asking the store: this worker's lease has not
   * lapsed since the session was last known to be its own. Free: no store call.
   */
  trusted(session: OwnedSession, now: number): boolean {
    // Without continuity no other worker ever takes a session: nothing to fence.
    const lease = this.deps.continuity ? this.deps.store.lease?.(this.deps.workerId) : undefined;
    if (!lease) return true;
    return now <= lease.until && (this.verifiedAt.get(session) ?? 0) === lease.lapses;
  }

  /**
   * After a lapse (a pause), checks the session's record: still this worker's at its epoch, it is
   * trusted again; adopted elsewhere meanwhile, this stale copy is dropped (not released).
   */
  async verify(session: OwnedSession): Promise<boolean> {
    const { store, workerId, logger } = this.deps;
    const lapses = store.lease?.(workerId)?.lapses ?? 0;
    const record = await store.getSession(session.id);
    if (record?.workerId === workerId && (record.epoch ?? 0) === session.epoch) {
      this.verifiedAt.set(session, lapses);
      return true;
    }
    logger.warn(`[express-mcp-affinity] session ${session.id} was taken over while this worker was away; dropping its copy`);
    if (this.sessions.get(session.id) === session) this.sessions.delete(session.id);
    await session.close();
    return false;
  }

  /** Makes an initialized (or rebuilt) session routable; beyond the bound, idle ones hibernate. */
  add(session: OwnedSession): void {
    this.hibernated.delete(session.id);
    this.sessions.set(session.id, session);
    this.verifiedAt.set(session, this.deps.store.lease?.(this.deps.workerId)?.lapses ?? 0);
    if (this.deps.continuity && this.sessions.size > this.deps.maxSessionsPerWorker) this.hibernateLeastRecent(session);
  }

  /** Releases a claimed id that never became a session (its initialize failed). */
  unclaim(sessionId: string): Promise<void> {
    return this.deps.store.releaseSession(sessionId, this.deps.workerId).catch(() => undefined);
  }

  /** Writes the session's snapshot to its record (fenced by its epoch). */
  async save(session: OwnedSession): Promise<void> {
    const { store, workerId, metrics, logger } = this.deps;
    if (!this.deps.continuity || !store.saveSession) return;
    try {
      const record = { sessionId: session.id, workerId, scope: session.scope, epoch: session.epoch, snapshot: session.snapshot() };
      if (!(await store.saveSession(record))) logger.warn(`[express-mcp-affinity] session ${session.id} is owned elsewhere now`);
    } catch (error) {
      metrics.storeError('saveSession');
      logger.warn(`[express-mcp-affinity] saving session ${session.id} failed: ${String(error)}`);
    }
  }

  /** Forgets the session here and in the store, when it is still the one registered. Idempotent. */
  forget(session: OwnedSession, reason: SessionEnd): void {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    this.release(session.id, reason);
  }

  private release(sessionId: string, reason: SessionEnd): void {
    this.deps.metrics.sessionEnded(reason);
    this.deps.store.releaseSession(sessionId, this.deps.workerId).catch((error: unknown) => {
      this.deps.metrics.storeError('releaseSession');
      this.deps.logger.warn(`[express-mcp-affinity] releasing session failed: ${String(error)}`);
    });
  }

  /** Ends a session: forgotten, then its SDK objects closed. */
  async end(session: OwnedSession, reason: SessionEnd): Promise<void> {
    this.forget(session, reason);
    await session.close();
  }

  /** Whether the session outlived `sessionMaxAgeMs`. */
  outlived(session: OwnedSession, now: number): boolean {
    return now - session.createdAt >= this.deps.sessionMaxAgeMs;
  }

  /**
   * A revoked session (its record already deleted by whoever revoked it): ended here if it lives
   * here, awake or asleep. Idempotent.
   */
  async revoke(sessionId: string): Promise<void> {
    // Being rebuilt now: ended as soon as it is awake, never served.
    const waking = this.waking.get(sessionId);
    if (waking)
      return void (await waking.then(
        (woken) => this.end(woken, 'revoked'),
        () => undefined,
      ));
    const session = this.sessions.get(sessionId);
    if (session) return this.end(session, 'revoked');
    if (this.hibernated.delete(sessionId)) this.release(sessionId, 'revoked');
  }

  /** Drops a session's SDK objects but keeps it (here, as a number, and in the store). */
  async hibernate(session: OwnedSession): Promise<void> {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    this.hibernated.set(session.id, Math.floor(session.lastActivity / 1000));
    await session.close();
  }

  private hibernateLeastRecent(added: OwnedSession): void {
    const idle = [...this.sessions.values()].filter((s) => s.active === 0 && s !== added).sort((a, b) => a.lastActivity - b.lastActivity);
    // A tenth at a time, so a burst of new sessions does not scan the table on every one.
    const excess = this.sessions.size - this.deps.maxSessionsPerWorker;
    const count = Math.min(idle.length, Math.max(excess, Math.ceil(this.deps.maxSessionsPerWorker / 10)));
    for (const session of idle.slice(0, count)) void this.hibernate(session);
  }

  /**
   * Counts a request of the session until its response closes (a stream for as long as it is
   * open), as many calls as it carries (a batch counts each). `'busy'` when that would pass
   * `maxConcurrentPerSession`; `'duplicate'` when a JSON-RPC id it carries is already in flight in
   * the session (its answer could never be told apart). Counts nothing then.
   */
  begin(session: OwnedSession, res: ServerResponse, ids: ReadonlyArray<string | number> = []): 'ok' | 'busy' | 'duplicate' {
    const calls = Math.max(1, ids.length);
    if (session.active + calls > this.deps.maxConcurrentPerSession) return 'busy';
    if (ids.some((id, i) => session.inFlight.has(id) || ids.indexOf(id) !== i)) return 'duplicate';
    session.active += calls;
    for (const id of ids) session.inFlight.add(id);
    session.lastActivity = Date.now();
    res.once('close', () => {
      session.active -= calls;
      for (const id of ids) session.inFlight.delete(id);
      session.lastActivity = Date.now();
    });
    this.deps.store.touchSession?.(session.id, this.deps.workerId, session.scope);
    return 'ok';
  }

  /**
   * Ends the sessions nobody used for `sessionIdleTimeoutMs` (clients such as the MCP inspector
   * never send DELETE), and hibernates those idle for `hibernateAfterMs`. A session with a request
   * or a stream open is busy, however long ago it started.
   */
  expireIdle(now: number): number {
    let expired = 0;
    const { sessionIdleTimeoutMs, hibernateAfterMs, continuity, logger } = this.deps;
    for (const session of [...this.sessions.values()]) {
      const idle = now - session.lastActivity;
      if (this.outlived(session, now)) {
        expired++;
        logger.info(`[express-mcp-affinity] a session (${sessionRef(session.id)}) reached its maximum age`);
        void this.end(session, 'expired');
        continue;
      }
      if (session.active > 0) continue;
      if (idle >= sessionIdleTimeoutMs) {
        expired++;
        logger.info(`[express-mcp-affinity] session ${session.id} expired after ${sessionIdleTimeoutMs} ms idle`);
        this.end(session, 'expired').catch((error: unknown) =>
          logger.warn(`[express-mcp-affinity] closing idle session ${session.id} failed: ${String(error)}`),
        );
      } else if (continuity && idle >= hibernateAfterMs) {
        void this.hibernate(session);
      }
    }
    for (const [sessionId, lastSeconds] of [...this.hibernated]) {
      if (now - lastSeconds * 1000 < sessionIdleTimeoutMs) continue;
      expired++;
      this.hibernated.delete(sessionId);
      this.release(sessionId, 'expired');
    }
    return expired;
  }

  /** From now on no request of a session is served here (in-flight ones finish). */
  beginHandOff(): void {
    this.handedOff = true;
  }

  /**
   * A drain's hand-off: this worker leaves the store but its sessions stay there, for the workers
   * that receive their next requests to adopt; the SDK objects here are dropped.
   */
  async handOff(): Promise<void> {
    this.beginHandOff();
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    this.hibernated.clear();
    await Promise.allSettled(sessions.map((s) => s.close()));
  }

  /** Ends every session (or, with continuity, hands them off) and stops the sweeper. */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    if (this.deps.continuity) return this.handOff();
    await Promise.allSettled([...this.sessions.values()].map((s) => this.end(s, 'closed')));
    this.sessions.clear();
  }
}
