/**
 * Sessions and 2026-07-28 listen streams learn of changes on every worker: a change seen here
 * (a list, or a resource's content) is published through the store (when it can), and every
 * worker, this one included, tells its own sessions and listeners. List hints to sessions are
 * idempotent, so they are coalesced per server: one notification per changed list.
 */
import { LIST_KINDS } from '../list-kinds.js';
import type { ListenHub } from '../mcp/subscriptions.js';
import type { MetricsSink } from '../metrics.js';
import type { Catalog, GatewayEvent, ListKind, Logger, SessionStore } from '../types.js';
import type { SessionRegistry } from './session-registry.js';

export interface ChangeFanOutDeps {
  readonly workerId: string;
  readonly catalog: Catalog;
  readonly store: SessionStore;
  readonly registry: SessionRegistry;
  readonly metrics: MetricsSink;
  readonly logger: Logger;
  /** The 2026-07-28 listen streams held here. */
  readonly listens?: ListenHub;
}

/** Starts listening; returns the function that stops every listener and timer it started. */
export function startChangeFanOut(deps: ChangeFanOutDeps): () => void {
  const { catalog, store, registry, metrics, logger } = deps;
  /** Per server, the lists changed since its coalescing timer started. */
  const pending = new Map<string, { timer: NodeJS.Timeout; kinds: Set<ListKind> }>();
  const inScope = (sessionScope: string, serverId: string) => sessionScope === serverId || sessionScope === '*';
  const tellSessions = (serverId: string, kinds: readonly ListKind[]): void => {
    const waiting = pending.get(serverId);
    if (waiting) {
      for (const kind of kinds) waiting.kinds.add(kind);
      return;
    }
    const timer = setTimeout(() => {
      const told = pending.get(serverId)!.kinds;
      pending.delete(serverId);
      for (const session of registry.values()) {
        if (!inScope(session.scope, serverId)) continue;
        if (told.has('tools')) session.server.sendToolListChanged().catch(() => undefined);
        if (told.has('resources')) session.server.sendResourceListChanged().catch(() => undefined);
        if (told.has('prompts')) session.server.sendPromptListChanged().catch(() => undefined);
      }
    }, 10);
    pending.set(serverId, { timer, kinds: new Set(kinds) });
  };
  const changed = (serverId: string, kinds: readonly ListKind[] = LIST_KINDS): void => {
    tellSessions(serverId, kinds);
    deps.listens?.catalogChanged(serverId);
  };
  const updated = (serverId: string, uri: string): void => {
    for (const session of registry.values()) {
      if (inScope(session.scope, serverId) && session.subscriptions.has(uri))
        session.server.sendResourceUpdated({ uri }).catch(() => undefined);
    }
    deps.listens?.resourceUpdated(serverId, uri);
  };
  const stops: Array<() => void> = [];
  const fanOut = typeof store.publish === 'function' && typeof store.subscribe === 'function';
  /** Through the store to every worker, this one included; here alone when it cannot publish. */
  const publish = (event: GatewayEvent, here: () => void): void => {
    if (!fanOut) return here();
    store.publish!(event).catch((error: unknown) => {
      metrics.storeError('publish');
      logger.warn(`[express-mcp-affinity] could not publish a ${event.type} event: ${String(error)}`);
      here();
    });
  };
  const stopListening = catalog.onChange?.((serverId, kinds) =>
    publish({ type: 'catalog-changed', serverId, origin: deps.workerId, ...(kinds ? { kinds } : {}) }, () => changed(serverId, kinds)),
  );
  if (stopListening) stops.push(stopListening);
  const stopWatching = catalog.onResourceUpdated?.((serverId, uri) =>
    publish({ type: 'resource-updated', serverId, uri, origin: deps.workerId }, () => updated(serverId, uri)),
  );
  if (stopWatching) stops.push(stopWatching);
  if (fanOut) {
    stops.push(
      store.subscribe!((event) => {
        // Another host's event is JSON: kinds that are not a list mean every list.
        if (event.type === 'catalog-changed') changed(event.serverId, Array.isArray(event.kinds) ? event.kinds : undefined);
        else if (event.type === 'resource-updated') updated(event.serverId, event.uri);
        // Revoked from any worker or host: its owner ends it now.
        else if (event.type === 'session-revoked') void registry.revoke(event.sessionId);
        else if (event.type === 'listen-cancelled') deps.listens?.cancel(event.subscriptionId, event.principal, event.endpoint);
      }),
    );
  }
  return () => {
    for (const stop of stops.splice(0)) stop();
    for (const { timer } of pending.values()) clearTimeout(timer);
    pending.clear();
  };
}
