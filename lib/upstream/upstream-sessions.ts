/**
 * The upstream sessions of the downstream sessions this worker owns (`sessions: 'per-client'`):
 * one per downstream session, opened on its first use and closed (DELETE) when the downstream
 * session's SDK objects close here: it ended, hibernated or moved to another worker, which opens
 * its own on the session's next use there.
 */
import type { SessionLink } from '../mcp/session-link.js';
import { outsideCalls } from './upstream-call.js';
import type { Connection } from './upstream-client.js';
import { UpstreamError } from './upstream-error.js';

export class UpstreamSessions {
  private readonly open = new Map<string, Promise<Connection>>();
  private readonly stops = new Map<string, () => void>();

  constructor(
    private readonly upstream: string,
    private readonly connect: (session: SessionLink) => Promise<Connection>,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** The session's connection, opened once however many calls ask at once. */
  get(session: SessionLink): Promise<Connection> {
    const { sessionId } = session;
    let opening = this.open.get(sessionId);
    if (opening) return opening;
    // A handler still running after its session closed here: nothing would ever close it.
    if (session.closed) return Promise.reject(new UpstreamError(this.upstream, 'the session ended here'));
    // Not part of the call that happens to open it: its GET stream outlives that call.
    opening = outsideCalls(() => this.connect(session));
    this.open.set(sessionId, opening);
    const mine = opening;
    opening.catch(() => {
      if (this.open.get(sessionId) === mine) this.open.delete(sessionId);
    });
    if (!this.stops.has(sessionId))
      this.stops.set(
        sessionId,
        session.onClose(() => void this.retire(sessionId)),
      );
    return opening;
  }

  /**
   * Closes the session's connection. Without `which` (the session closed here), it is forgotten at
   * once, so that the session woken again meanwhile opens a new one; with `which` (it was found
   * stale), only that one, not a newer one.
   */
  async retire(sessionId: string, which?: Connection): Promise<void> {
    const opening = this.open.get(sessionId);
    if (!which) {
      this.stops.get(sessionId)?.();
      this.stops.delete(sessionId);
      this.open.delete(sessionId);
    }
    if (!opening) return;
    const connection = await opening.catch(() => undefined);
    if (which) {
      if (connection !== which) return;
      if (this.open.get(sessionId) === opening) this.open.delete(sessionId);
    }
    await connection?.close();
  }

  async closeAll(): Promise<void> {
    const ids = [...this.open.keys()];
    await Promise.all(ids.map((id) => this.retire(id)));
  }
}
