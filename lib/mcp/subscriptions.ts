/**
 * `subscriptions/listen` (2026-07-28, SEP-2575): a POST to any worker whose answer is a stream of
 * notifications. It starts with `notifications/subscriptions/acknowledged`, naming the requested
 * kinds this gateway honours, and every message carries the listen request's id as
 * `_meta["io.modelcontextprotocol/subscriptionId"]`. Changes raised on any worker or host reach
 * it through the store's fan-out (the hub is told once per change). A disconnect or a
 * `notifications/cancelled` for its id ends it; listen streams count against `maxOpenStreams`
 * (beyond: 503).
 */
import type { ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { principalOf } from '../auth/principal.js';
import { scopeKey } from '../server-id.js';
import type { McpScope } from '../types.js';
import type { McpCore } from './core.js';

export const SUBSCRIPTION_ID_META = 'io.modelcontextprotocol/subscriptionId';

/** What a client may listen for; `resourceSubscriptions` are URIs of `resources/updated`. */
export interface ListenedNotifications {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

interface Listener {
  readonly id: string | number;
  readonly scope: McpScope;
  readonly principal: string | undefined;
  readonly notifications: ListenedNotifications;
  readonly res: ServerResponse;
}

const LIST_CHANGED = [
  ['toolsListChanged', 'notifications/tools/list_changed'],
  ['promptsListChanged', 'notifications/prompts/list_changed'],
  ['resourcesListChanged', 'notifications/resources/list_changed'],
] as const;

/** The request's `notifications`, when well formed. */
export function parseListened(params: Record<string, unknown>): ListenedNotifications | undefined {
  const asked = params.notifications as Record<string, unknown> | undefined;
  if (typeof asked !== 'object' || asked === null || Array.isArray(asked)) return undefined;
  for (const [key] of LIST_CHANGED) if (asked[key] !== undefined && typeof asked[key] !== 'boolean') return undefined;
  const uris = asked.resourceSubscriptions;
  if (uris !== undefined && !(Array.isArray(uris) && uris.length <= 1000 && uris.every((u) => typeof u === 'string'))) return undefined;
  return asked as ListenedNotifications;
}

const inScope = (scope: McpScope, serverId: string): boolean => scope.kind === 'all' || scope.serverId === serverId;

export class ListenHub {
  private readonly listeners = new Set<Listener>();

  constructor(private readonly deps: { readonly core: McpCore }) {}

  get size(): number {
    return this.listeners.size;
  }

  /**
   * Opens the stream (admitted among the worker's streams) and acknowledges. Honoured: the list
   * kinds asked for, and the asked URIs that are resources of the scope the principal may see.
   */
  async open(
    res: ServerResponse,
    id: string | number,
    scope: McpScope,
    asked: ListenedNotifications,
    auth: AuthInfo | undefined,
  ): Promise<void> {
    const honoured: ListenedNotifications = {};
    for (const [key] of LIST_CHANGED) if (asked[key] === true) honoured[key] = true;
    if (asked.resourceSubscriptions) {
      // One authorized view for every URI asked for.
      honoured.resourceSubscriptions = await this.deps.core.visibleResources(scope, [...new Set(asked.resourceSubscriptions)], auth);
    }
    // The client may have gone while the policy answered: then there is nothing to hold.
    if (res.destroyed || res.writableEnded) return;
    const listener: Listener = { id, scope, principal: principalOf(auth), notifications: honoured, res };
    res.on('error', () => undefined); // a broken connection ends the listener through 'close'
    res.once('close', () => this.listeners.delete(listener));
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    this.listeners.add(listener);
    this.send(listener, 'notifications/subscriptions/acknowledged', { notifications: honoured });
  }

  /** A virtual server's items changed: each listener in scope hears each list kind it asked for, once. */
  catalogChanged(serverId: string): void {
    for (const listener of this.listeners) {
      if (!inScope(listener.scope, serverId)) continue;
      for (const [key, method] of LIST_CHANGED) if (listener.notifications[key]) this.send(listener, method, {});
    }
  }

  resourceUpdated(serverId: string, uri: string): void {
    for (const listener of this.listeners) {
      if (inScope(listener.scope, serverId) && listener.notifications.resourceSubscriptions?.includes(uri)) {
        this.send(listener, 'notifications/resources/updated', { uri });
      }
    }
  }

  /**
   * `notifications/cancelled` for a listen request: that principal's streams with that id, on that
   * endpoint, end. (Without authentication every client is the same nobody: use unguessable ids.)
   */
  cancel(id: string | number, principal: string | undefined, endpoint: string): void {
    for (const listener of this.listeners) {
      if (listener.id === id && listener.principal === principal && scopeKey(listener.scope) === endpoint) this.end(listener);
    }
  }

  private end(listener: Listener): void {
    this.listeners.delete(listener);
    listener.res.end();
  }

  close(): void {
    for (const listener of [...this.listeners]) this.end(listener);
  }

  private send(listener: Listener, method: string, params: Record<string, unknown>): void {
    const { res } = listener;
    if (res.destroyed || res.writableEnded) return void this.listeners.delete(listener);
    const message = { jsonrpc: '2.0', method, params: { ...params, _meta: { [SUBSCRIPTION_ID_META]: listener.id } } };
    // A client that does not read is not buffered for: its stream ends (it may listen again).
    if (!res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`)) this.end(listener);
  }
}
