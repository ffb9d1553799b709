/**
 * Sessions learn that their lists changed, on every worker: a change seen here is published
 * through the store (when it can), and every worker, this one included, tells its own sessions of
 * that server. Hints are idempotent, so changes are coalesced per server. Resource updates reach
 * the sessions subscribed to the URI on this worker.
 */
import type { MetricsSink } from '../metrics.js';
import type { Catalog, Logger, SessionStore } from '../types.js';
import type { SessionRegistry } from './session-registry.js';

export interface ChangeFanOutDeps {
  readonly workerId: string;
  readonly catalog: Catalog;
  readonly store: SessionStore;
  readonly registry: SessionRegistry;
  readonly metrics: MetricsSink;
  readonly logger: Logger;
}

/** Starts listening; returns the function that stops every listener and timer it started. */
export function startChangeFanOut(deps: ChangeFanOutDeps): () => void {
  const { catalog, store, registry, metrics, logger } = deps;
  const pending = new Map<string, NodeJS.Timeout>();
  const inScope = (sessionScope: string, serverId: string) => sessionScope === serverId || sessionScope === '*';
  const tellSessions = (serverId: string): void => {
    if (pending.has(serverId)) return;
    const timer = setTimeout(() => {
      pending.delete(serverId);
      for (const session of registry.values()) {
        if (inScope(session.scope, serverId)) session.server.sendToolListChanged().catch(() => undefined);
      }
    }, 10);
    pending.set(serverId, timer);
  };
  const stops: Array<() => void> = [];
  const fanOut = typeof store.publish === 'function' && typeof store.subscribe === 'function';
  const stopListening = catalog.onChange?.((serverId) => {
    if (!fanOut) return tellSessions(serverId);
    store.publish!({ type: 'catalog-changed', serverId, origin: deps.workerId }).catch((error: unknown) => {
      metrics.storeError('publish');
      logger.warn(`[express-mcp-affinity] could not publish a catalog change: ${String(error)}`);
      tellSessions(serverId);
    });
  });
  if (stopListening) stops.push(stopListening);
  if (fanOut) {
    stops.push(
      store.subscribe!((event) => {
        if (event.type === 'catalog-changed') tellSessions(event.serverId);
        // Revoked from any worker or host: its owner ends it now.
        else if (event.type === 'session-revoked') void registry.revoke(event.sessionId);
      }),
    );
  }
  const stopWatching = catalog.onResourceUpdated?.((serverId, uri) => {
    for (const session of registry.values()) {
      if (inScope(session.scope, serverId) && session.subscriptions.has(uri))
        session.server.sendResourceUpdated({ uri }).catch(() => undefined);
    }
  });
  if (stopWatching) stops.push(stopWatching);
  return () => {
    for (const stop of stops.splice(0)) stop();
    for (const timer of pending.values()) clearTimeout(timer);
    pending.clear();
  };
}
