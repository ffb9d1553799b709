/**
 * `initialize`: a new session owned by this worker, bound to the scope it is initialized on. Its
 * id is claimed in the store before the SDK sees the request, and it becomes routable when the
 * SDK has initialized it (before the client learns its id).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type EventStore, WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { ErrorCodes, JsonRpcCodes } from '../errors.js';
import { httpRpcError, sendRpcError } from '../http/rpc-error.js';
import type { McpCore } from '../mcp/core.js';
import type { McpScope } from '../types.js';
import { OwnedSession } from './owned-session.js';
import { createSdkServer, type ServerIdentity, type SessionState } from './sdk-server.js';
import type { SessionRegistry } from './session-registry.js';
import { handleWithTransport } from './web-transport.js';

export const scopeKey = (scope: McpScope): string => (scope.kind === 'server' ? scope.serverId : '*');

export interface SessionFactory {
  readonly registry: SessionRegistry;
  readonly core: McpCore;
  readonly identity: ServerIdentity;
  readonly jsonResponse: boolean;
  readonly eventStore: EventStore | undefined;
}

const storeUnavailable = () =>
  httpRpcError(503, JsonRpcCodes.SERVER_ERROR, ErrorCodes.STORE_UNAVAILABLE, 'Session store unavailable; retry shortly', {
    headers: { 'retry-after': '1' },
  });

export async function openSession(
  factory: SessionFactory,
  req: IncomingMessage,
  res: ServerResponse,
  scope: McpScope,
  messages: unknown,
): Promise<void> {
  const { registry } = factory;
  const key = scopeKey(scope);
  const sessionId = await registry.claim(key);
  if (sessionId === undefined) return sendRpcError(res, storeUnavailable());
  const state: SessionState = { logLevel: undefined, subscriptions: new Set() };
  const server = createSdkServer(factory.core, scope, state, factory.identity);
  const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: () => sessionId,
    enableJsonResponse: factory.jsonResponse,
    ...(factory.eventStore === undefined ? {} : { eventStore: factory.eventStore }),
    // Awaited by the SDK before the initialize response goes out.
    onsessioninitialized: () => registry.add(session),
    onsessionclosed: () => registry.forget(sessionId, 'deleted'),
  });
  const session = new OwnedSession(sessionId, key, server, transport, state);
  transport.onclose = () => registry.forget(sessionId, 'closed');
  try {
    await server.connect(transport);
    await handleWithTransport(transport, req, res, messages);
  } finally {
    if (registry.get(sessionId) !== session) {
      // The SDK refused the initialize (e.g. a wrong Accept header), or it failed: nothing to keep.
      await server.close().catch(() => undefined);
      await registry.unclaim(sessionId);
    }
  }
}
