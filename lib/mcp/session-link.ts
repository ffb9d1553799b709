/**
 * What an upstream needs of the downstream session a request belongs to, beyond the public
 * handler context: the session's lifetime here (its upstream sessions close with it), its
 * client's capabilities and log level, its subscriptions, and a way to notify it. Kept off the
 * public `HandlerContext` type: handlers written by users do not need it.
 */
import type { ClientCapabilities, LoggingLevel, ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import type { Catalog, HandlerContext, McpScope } from '../types.js';

export interface SessionLink {
  readonly sessionId: string;
  /** What the downstream client declared at `initialize` (kept through a rebuild). */
  clientCapabilities(): ClientCapabilities | undefined;
  /** The level the session asked for with `logging/setLevel`, if any. */
  logLevel(): LoggingLevel | undefined;
  subscriptions(): ReadonlySet<string>;
  /** A notification to the session, on its standalone (GET) stream. */
  notify(notification: ServerNotification): Promise<void>;
  /** Whether the session's SDK objects here are closed (nothing opened for it now would be closed). */
  readonly closed: boolean;
  /** `fn` runs once when the session's SDK objects close here (ended, hibernated, handed off). */
  onClose(fn: () => void): () => void;
  /** `fn` runs when the session changes its log level. */
  onLogLevel(fn: (level: LoggingLevel) => void): () => void;
}

/** What a request carries besides the handler context: its session, and its trace context. */
export interface RequestLink {
  readonly session: SessionLink | undefined;
  /** The `traceparent` the request came with (from the client, or the forwarding worker). */
  readonly traceparent: string | undefined;
}

const links = new WeakMap<HandlerContext, RequestLink>();

export function linkContext(ctx: HandlerContext, link: RequestLink): void {
  links.set(ctx, link);
}

export function requestLink(ctx: HandlerContext): RequestLink | undefined {
  return links.get(ctx);
}

/** The hook a resource offers when subscribing to it must reach someone else (an upstream). */
export const SUBSCRIPTION_HOOK = Symbol.for('express-mcp-affinity.subscriptionHook');

export interface SubscriptionHook {
  subscribe(uri: string, session: SessionLink): Promise<void>;
  unsubscribe(uri: string, session: SessionLink): Promise<void>;
  /** The session was rebuilt here (woken, adopted) with `uri` among its subscriptions. */
  resume(uri: string, session: SessionLink): Promise<void>;
}

/** The hook of the scope's resource `uri`, when it has one. */
export function subscriptionHook(catalog: Catalog, scope: McpScope, uri: string): SubscriptionHook | undefined {
  const resource = catalog.listResources(scope).find((r) => r.uri === uri) as { [SUBSCRIPTION_HOOK]?: SubscriptionHook } | undefined;
  return resource?.[SUBSCRIPTION_HOOK];
}

interface LinkedServer {
  getClientCapabilities(): ClientCapabilities | undefined;
  notification(notification: ServerNotification): Promise<void>;
  onclose?: () => void;
}

/** One session's link, over its SDK `Server`; the server's `onclose` is taken for the close hooks. */
export function createSessionLink(
  sessionId: string,
  server: LinkedServer,
  state: { readonly logLevel: LoggingLevel | undefined; readonly subscriptions: ReadonlySet<string> },
): SessionLink & { levelChanged(level: LoggingLevel): void } {
  const closers = new Set<() => void>();
  const levels = new Set<(level: LoggingLevel) => void>();
  let closed = false;
  const previous = server.onclose;
  server.onclose = () => {
    previous?.();
    closed = true;
    for (const fn of [...closers]) fn();
    closers.clear();
  };
  return {
    sessionId,
    get closed() {
      return closed;
    },
    clientCapabilities: () => server.getClientCapabilities(),
    logLevel: () => state.logLevel,
    subscriptions: () => state.subscriptions,
    notify: (notification) => server.notification(notification),
    onClose: (fn) => {
      closers.add(fn);
      return () => closers.delete(fn);
    },
    onLogLevel: (fn) => {
      levels.add(fn);
      return () => levels.delete(fn);
    },
    levelChanged: (level) => {
      for (const fn of levels) fn(level);
    },
  };
}
