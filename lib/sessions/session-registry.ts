/**
 * The sessions this worker owns, and their lifecycle: an id claimed in the store before the
 * session exists, routable once initialized, touched on every request (throttled by the store),
 * bounded per session, ended by DELETE, idle expiry, drain or close, and released in the store
 * whichever way it ends. Serving an owned session costs no store round trip.
 */
import type { ServerResponse } from 'node:http';
import type { MetricsSink, SessionEnd } from '../metrics.js';
import { newSessionId } from '../session-id.js';
import type { Logger, SessionStore } from '../types.js';
import type { OwnedSession } from './owned-session.js';

export interface SessionRegistryDeps {
  readonly workerId: string;
  readonly store: SessionStore;
  readonly metrics: MetricsSink;
  readonly logger: Logger;
  readonly sessionIdleTimeoutMs: number;
  readonly maxConcurrentPerSession: number;
}

export class SessionRegistry {
  private readonly sessions = new Map<string, OwnedSession>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly deps: SessionRegistryDeps) {
    this.sweeper = setInterval(
      () => this.expireIdle(Date.now()),
      Math.max(50, Math.min(60_000, Math.floor(deps.sessionIdleTimeoutMs / 4))),
    );
    this.sweeper.unref();
  }

  get(sessionId: string): OwnedSession | undefined {
    return this.sessions.get(sessionId);
  }

  has(sessionId: string): boolean {
    return this.sessions.has(sessionId);
  }

  get size(): number {
    return this.sessions.size;
  }

  values(): IterableIterator<OwnedSession> {
    return this.sessions.values();
  }

  /**
   * A new session id owned by this worker, recorded in the store first, so a store that cannot
   * record it refuses the initialize instead of creating a session no peer could route to.
   * `undefined` when the store refused or failed.
   */
  async claim(scope: string): Promise<string | undefined> {
    const { store, workerId, logger, metrics } = this.deps;
    const sessionId = newSessionId(workerId);
    try {
      if (await store.claimSession({ sessionId, workerId, scope })) return sessionId;
    } catch (error) {
      logger.error(`[express-mcp-affinity] could not record a new session: ${String(error)}`);
      metrics.storeError('claimSession');
    }
    return undefined;
  }

  /** Makes an initialized session routable. */
  add(session: OwnedSession): void {
    this.sessions.set(session.id, session);
  }

  /** Releases a claimed id that never became a session (its initialize failed). */
  unclaim(sessionId: string): Promise<void> {
    return this.deps.store.releaseSession(sessionId, this.deps.workerId).catch(() => undefined);
  }

  /** Forgets the session here and in the store. Idempotent. */
  forget(sessionId: string, reason: SessionEnd): void {
    if (!this.sessions.delete(sessionId)) return;
    this.deps.metrics.sessionEnded(reason);
    this.deps.store.releaseSession(sessionId, this.deps.workerId).catch((error: unknown) => {
      this.deps.metrics.storeError('releaseSession');
      this.deps.logger.warn(`[express-mcp-affinity] releasing session failed: ${String(error)}`);
    });
  }

  /** Ends a session: forgotten, then its SDK objects closed. */
  async end(session: OwnedSession, reason: SessionEnd): Promise<void> {
    this.forget(session.id, reason);
    await session.close();
  }

  /**
   * Counts a request of the session until its response closes (a stream for as long as it is
   * open). `false`, counting nothing, when the session is at `maxConcurrentPerSession`.
   */
  begin(session: OwnedSession, res: ServerResponse): boolean {
    if (session.active >= this.deps.maxConcurrentPerSession) return false;
    session.active++;
    session.lastActivity = Date.now();
    res.once('close', () => {
      session.active--;
      session.lastActivity = Date.now();
    });
    this.deps.store.touchSession?.(session.id, this.deps.workerId, session.scope);
    return true;
  }

  /**
   * Ends the sessions nobody used for `sessionIdleTimeoutMs` (clients such as the MCP inspector
   * never send DELETE). A session with a request or a stream open is busy, however long ago it
   * started.
   */
  expireIdle(now: number): number {
    let expired = 0;
    const { sessionIdleTimeoutMs, logger } = this.deps;
    for (const session of [...this.sessions.values()]) {
      if (session.active > 0 || now - session.lastActivity < sessionIdleTimeoutMs) continue;
      expired++;
      logger.info(`[express-mcp-affinity] session ${session.id} expired after ${sessionIdleTimeoutMs} ms idle`);
      this.end(session, 'expired').catch((error: unknown) =>
        logger.warn(`[express-mcp-affinity] closing idle session ${session.id} failed: ${String(error)}`),
      );
    }
    return expired;
  }

  /** Ends every session and stops the sweeper. */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.allSettled([...this.sessions.values()].map((s) => this.end(s, 'closed')));
    this.sessions.clear();
  }
}
