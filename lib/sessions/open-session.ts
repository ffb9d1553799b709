/**
 * A session's SDK objects, made for a new session (`initialize`) or made again for an existing one
 * from its store record (after its owner died, drained, or it hibernated). Both take the SDK's
 * public way: a web-standard transport whose session id is the session's, initialized by an
 * `initialize` request; a rebuild feeds it the stored `initialize` and `notifications/initialized`
 * as in-process requests, so the SDK `Server` knows the client's version, capabilities and info.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type EventStore, WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { LoggingLevel } from '@modelcontextprotocol/sdk/types.js';
import { authOf, principalOf } from '../auth/principal.js';
import { ErrorCodes, JsonRpcCodes } from '../errors.js';
import { httpRpcError, sendRpcError } from '../http/rpc-error.js';
import type { McpCore } from '../mcp/core.js';
import { scopeKey } from '../server-id.js';
import type { McpScope, SessionRecord, SessionSnapshot } from '../types.js';
import type { Resolution } from './continuity.js';
import { OwnedSession } from './owned-session.js';
import { createSdkServer, type ServerIdentity, type SessionState } from './sdk-server.js';
import { sessionEventStore } from './session-event-store.js';
import type { SessionRegistry } from './session-registry.js';
import { SessionTransport } from './session-transport.js';
import { handleWithTransport, INTERNAL_ORIGIN } from './web-transport.js';

export interface SessionFactory {
  readonly registry: SessionRegistry;
  readonly core: McpCore;
  readonly identity: ServerIdentity;
  readonly jsonResponse: boolean;
  readonly eventStore: EventStore | undefined;
  /**
   * Where a session not awake here lives (continuity): the record `sessionAffinity` found, or a
   * fresh lookup.
   */
  resolve(sessionId: string, known: SessionRecord | undefined): Promise<Resolution>;
}

const storeUnavailable = () =>
  httpRpcError(503, JsonRpcCodes.SERVER_ERROR, ErrorCodes.STORE_UNAVAILABLE, 'Session store unavailable; retry shortly', {
    headers: { 'retry-after': '1' },
  });

/** The SDK objects of one session, with this registry's lifecycle callbacks. */
function build(
  factory: SessionFactory,
  sessionId: string,
  scope: McpScope,
  state: SessionState,
  epoch: number,
  init: SessionSnapshot['init'],
  principal: string | undefined,
  createdAt: number,
  onInitialized: (session: OwnedSession) => void,
): OwnedSession {
  const { registry } = factory;
  const saved = async (): Promise<void> => {
    await registry.save(session);
  };
  const server = createSdkServer(factory.core, scope, state, factory.identity, saved);
  const sdkTransport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: () => sessionId,
    enableJsonResponse: factory.jsonResponse,
    ...(factory.eventStore === undefined ? {} : { eventStore: sessionEventStore(factory.eventStore, sessionId) }),
    // Awaited by the SDK before the initialize response goes out.
    onsessioninitialized: () => onInitialized(session),
    onsessionclosed: () => registry.forget(session, 'deleted'),
  });
  // Resumable streams carry event ids only the SDK's transport assigns: it frames them all.
  const transport = new SessionTransport(sdkTransport, factory.eventStore === undefined, factory.jsonResponse);
  const session = new OwnedSession(sessionId, scopeKey(scope), server, transport, state, epoch, init, principal, createdAt);
  transport.onclose = () => registry.forget(session, 'closed');
  return session;
}

/** `initialize`: the session's id is claimed in the store first, with what a rebuild needs. */
export async function openSession(
  factory: SessionFactory,
  req: IncomingMessage,
  res: ServerResponse,
  scope: McpScope,
  message: { params: SessionSnapshot['init'] },
): Promise<void> {
  const { registry } = factory;
  const { protocolVersion, capabilities, clientInfo } = message.params;
  const init = { protocolVersion, capabilities, clientInfo };
  // The session belongs to whoever opens it: a request of anyone else is answered as unknown.
  const principal = principalOf(authOf(req));
  const createdAt = Date.now();
  const sessionId = await registry.claim(scopeKey(scope), { init, createdAt, ...(principal === undefined ? {} : { principal }) });
  if (sessionId === undefined) return sendRpcError(res, storeUnavailable());
  const state: SessionState = { logLevel: undefined, subscriptions: new Set() };
  const session = build(factory, sessionId, scope, state, 0, init, principal, createdAt, (s) => registry.add(s));
  try {
    await session.server.connect(session.transport);
    await handleWithTransport(session.transport.sdk, req, res, message, authOf(req));
  } finally {
    if (!registry.knows(sessionId)) {
      // The SDK refused the initialize (e.g. a wrong Accept header), or it failed: nothing to keep.
      await session.server.close().catch(() => undefined);
      await registry.unclaim(sessionId);
    }
  }
}

/** One in-process request to a transport; its answer is read to the end and dropped. */
async function feed(transport: WebStandardStreamableHTTPServerTransport, headers: Record<string, string>, body: object): Promise<void> {
  const request = new Request(INTERNAL_ORIGIN, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
  });
  const response = await transport.handleRequest(request, { parsedBody: body });
  await response.arrayBuffer();
  if (response.status >= 300)
    throw new Error(`the SDK refused the stored ${String((body as { method?: unknown }).method)}: ${response.status}`);
}

/**
 * Makes the SDK objects of an existing session again from its record, which this worker owns at
 * `record.epoch`. Resolves the session, awake and routable.
 */
export async function rebuildSession(factory: SessionFactory, record: SessionRecord, scope: McpScope): Promise<OwnedSession> {
  const snapshot = record.snapshot;
  if (!snapshot) throw new Error(`session ${record.sessionId} has no snapshot to rebuild from`);
  const state: SessionState = {
    logLevel: snapshot.logLevel as LoggingLevel | undefined,
    subscriptions: new Set(snapshot.subscriptions ?? []),
  };
  const { init, principal, createdAt = Date.now() } = snapshot;
  const session = build(factory, record.sessionId, scope, state, record.epoch ?? 0, init, principal, createdAt, () => undefined);
  await session.server.connect(session.transport);
  await feed(session.transport.sdk, {}, { jsonrpc: '2.0', id: 'mcp-affinity-rebuild', method: 'initialize', params: snapshot.init });
  await feed(
    session.transport.sdk,
    { 'mcp-session-id': record.sessionId, 'mcp-protocol-version': snapshot.init.protocolVersion },
    { jsonrpc: '2.0', method: 'notifications/initialized' },
  );
  factory.registry.add(session);
  return session;
}
