/**
 * `resources/subscribe` on an upstream's resource. Per-client: the downstream session's own
 * upstream session subscribes, and its updates reach that session alone. Shared: the worker's
 * connection subscribes once per URI, and an update reaches each session of this worker that
 * subscribed to it.
 */
import type { SessionLink, SubscriptionHook } from '../mcp/session-link.js';
import type { Connection } from './upstream-client.js';
import { UpstreamError } from './upstream-error.js';
import type { UpstreamSessions } from './upstream-sessions.js';

export interface SubscriptionDeps {
  readonly name: string;
  readonly timeoutMs: number;
  readonly perClient: UpstreamSessions | undefined;
  shared(): Connection | undefined;
}

const subscribable = (connection: Connection) => connection.client.getServerCapabilities()?.resources?.subscribe === true;

/** Tells a session of an update, when it (still) subscribes to the URI. */
export function tellUpdated(session: SessionLink, uri: string): void {
  if (session.subscriptions().has(uri))
    void session.notify({ method: 'notifications/resources/updated', params: { uri } }).catch(() => undefined);
}

export class UpstreamSubscriptions implements SubscriptionHook {
  /** Shared mode: who subscribed to each URI on this worker. */
  private readonly subscribers = new Map<string, Set<SessionLink>>();

  constructor(private readonly deps: SubscriptionDeps) {}

  /** An update on the shared connection. */
  sharedUpdated(uri: string): void {
    for (const session of this.subscribers.get(uri) ?? []) tellUpdated(session, uri);
  }

  /** A new upstream session of a downstream session subscribes again to what that session did (after a move). */
  async resubscribe(connection: Connection, session: SessionLink, uris: ReadonlySet<string>): Promise<void> {
    if (!subscribable(connection)) return;
    const options = { timeout: this.deps.timeoutMs };
    await Promise.all(
      [...session.subscriptions()].filter((uri) => uris.has(uri)).map((uri) => connection.client.subscribeResource({ uri }, options)),
    ).catch(() => undefined);
  }

  async subscribe(uri: string, session: SessionLink): Promise<void> {
    await this.change('subscribe', uri, session);
  }

  async unsubscribe(uri: string, session: SessionLink): Promise<void> {
    await this.change('unsubscribe', uri, session);
  }

  /** Per-client: its upstream session opens now (and subscribes again as it opens); shared: joins. */
  async resume(uri: string, session: SessionLink): Promise<void> {
    if (this.deps.perClient) await this.deps.perClient.get(session);
    else await this.change('subscribe', uri, session);
  }

  private async change(what: 'subscribe' | 'unsubscribe', uri: string, session: SessionLink): Promise<void> {
    const { perClient, timeoutMs, name } = this.deps;
    try {
      let connection: Connection | undefined;
      if (perClient) connection = await perClient.get(session);
      else {
        let set = this.subscribers.get(uri);
        if (what === 'subscribe') {
          if (!set) this.subscribers.set(uri, (set = new Set()));
          else if (set.size > 0) return void set.add(session);
          set.add(session);
          session.onClose(() => this.leave(uri, session));
        } else if (!set?.delete(session) || set.size > 0) return;
        connection = this.deps.shared();
      }
      if (!connection || !subscribable(connection)) return;
      if (what === 'subscribe') await connection.client.subscribeResource({ uri }, { timeout: timeoutMs });
      else await connection.client.unsubscribeResource({ uri }, { timeout: timeoutMs });
    } catch (error) {
      throw new UpstreamError(name, `resources/${what} ${uri}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private leave(uri: string, session: SessionLink): void {
    const set = this.subscribers.get(uri);
    if (!set?.delete(session) || set.size > 0) return;
    this.subscribers.delete(uri);
    void this.deps
      .shared()
      ?.client.unsubscribeResource({ uri })
      .catch(() => undefined);
  }
}
