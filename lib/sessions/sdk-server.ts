/**
 * The 2025 era's adapter: the SDK's low-level `Server` for one session, each request handler a
 * call into the one MCP core. What only a session has lives here: its log level and its resource
 * subscriptions, and the channel back to its client (the request's stream, server-to-client
 * requests).
 */
// The low-level Server, not McpServer: the core resolves the catalog per request and per scope,
// where McpServer registers a fixed set of items up front.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  type LoggingLevel,
  type ServerNotification,
  type ServerRequest,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { SESSION_CAPABILITIES } from '../mcp/capabilities.js';
import { CORE_METHODS, type CoreRequest, type McpCore } from '../mcp/core.js';
import { createHandlerContext } from '../mcp/handler-context.js';
import { REQUEST_SCHEMAS } from '../mcp/request-schemas.js';
import { resourceNotFound } from '../mcp/resources.js';
import { createSessionLink, subscriptionHook } from '../mcp/session-link.js';
import type { McpScope } from '../types.js';

/** What one session asked for through the protocol. */
export interface SessionState {
  logLevel: LoggingLevel | undefined;
  readonly subscriptions: Set<string>;
}

export interface ServerIdentity {
  readonly serverInfo: { name: string; version: string; title?: string };
  readonly instructions: string | undefined;
  readonly workerId: string;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;
type AnySchema = Parameters<Server['setRequestHandler']>[0];

/**
 * `changed` runs when the client changes what the session's store record keeps (its log level,
 * its subscriptions), and is awaited before the answer: the record is current before the client
 * learns the change took effect.
 */
export function createSdkServer(
  core: McpCore,
  scope: McpScope,
  state: SessionState,
  identity: ServerIdentity,
  changed: () => Promise<void>,
): Server {
  const server = new Server(identity.serverInfo, {
    capabilities: SESSION_CAPABILITIES,
    ...(identity.instructions === undefined ? {} : { instructions: identity.instructions }),
  });
  // For upstreams: the session's lifetime, capabilities and notifications (made at its first request).
  let link: ReturnType<typeof createSessionLink> | undefined;
  const linkOf = (extra: Extra) => {
    if (link || extra.sessionId === undefined) return link;
    link = createSessionLink(extra.sessionId, server, state);
    // A rebuilt session (woken, adopted) subscribes again to the upstream resources of its record.
    for (const uri of state.subscriptions)
      void subscriptionHook(core.catalog, scope, uri)
        ?.resume(uri, link)
        .catch(() => undefined);
    return link;
  };
  const request = (extra: Extra): CoreRequest => {
    // Server-to-client requests travel on this request's stream; the client's answer comes back
    // as a new POST of the session, which any worker forwards to this one, the owner.
    const related = { relatedRequestId: extra.requestId, signal: extra.signal };
    const channel = {
      notify: (method: string, params: Record<string, unknown>) => extra.sendNotification({ method, params } as ServerNotification),
      capabilities: () => server.getClientCapabilities(),
      createMessage: (params: Parameters<Server['createMessage']>[0]) => server.createMessage(params, related),
      elicitInput: (params: Parameters<Server['elicitInput']>[0]) => server.elicitInput(params, related),
      logLevel: () => state.logLevel,
    };
    const progressToken = extra._meta?.progressToken;
    const traceparent = extra.requestInfo?.headers?.traceparent;
    const requestLink = { session: linkOf(extra), traceparent: typeof traceparent === 'string' ? traceparent : undefined };
    return {
      scope,
      auth: extra.authInfo,
      context: (serverId) =>
        createHandlerContext({
          serverId,
          scope,
          sessionId: extra.sessionId,
          workerId: identity.workerId,
          auth: extra.authInfo,
          signal: extra.signal,
          progressToken,
          channel,
          era: 'session',
          link: requestLink,
        }),
    };
  };
  for (const method of CORE_METHODS) {
    const schema = REQUEST_SCHEMAS.get(method) as unknown as AnySchema;
    server.setRequestHandler(schema, (message, extra) =>
      core.call(method, (message.params ?? {}) as Record<string, unknown>, request(extra)),
    );
  }
  // Subscriptions are the session's own; only a resource of the scope can be subscribed to.
  server.setRequestHandler(SubscribeRequestSchema, async (message, extra) => {
    const { uri } = message.params;
    if (!(await core.resourceExists(scope, uri, extra.authInfo))) throw resourceNotFound(uri);
    const session = linkOf(extra);
    if (session) await subscriptionHook(core.catalog, scope, uri)?.subscribe(uri, session);
    state.subscriptions.add(uri);
    await changed();
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (message, extra) => {
    const session = linkOf(extra);
    if (session) await subscriptionHook(core.catalog, scope, message.params.uri)?.unsubscribe(message.params.uri, session);
    state.subscriptions.delete(message.params.uri);
    await changed();
    return {};
  });
  // Replaces the SDK's handler (same answer) so that ctx.log() can filter by the session's level.
  server.setRequestHandler(SetLevelRequestSchema, async (message, extra) => {
    state.logLevel = message.params.level;
    linkOf(extra)?.levelChanged(message.params.level);
    await changed();
    return {};
  });
  return server;
}
