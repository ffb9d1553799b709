/**
 * A 2025-era request on the worker that serves it: an owned session's request, an `initialize`,
 * or a refusal. A session exists only on the endpoint it was initialized on.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { authOf, principalOf } from '../auth/principal.js';
import { ErrorCodes, JsonRpcCodes } from '../errors.js';
import { MISDIRECTED_HEADER } from '../hop/forwarder.js';
import { requestState, SESSION_HEADER, singleHeader } from '../http/request-state.js';
import { httpRpcError, sendRpcError, sessionNotFound } from '../http/rpc-error.js';
import { checkMessages, idOf } from '../mcp/message-checks.js';
import { unknownServer } from '../middleware/server-scope.js';
import { scopeKey } from '../server-id.js';
import type { McpScope } from '../types.js';
import { openSession, rebuildSession, type SessionFactory } from './open-session.js';
import type { OwnedSession } from './owned-session.js';

const tooManyForSession = (messages: unknown) =>
  httpRpcError(
    429,
    JsonRpcCodes.SERVER_ERROR,
    ErrorCodes.TOO_MANY_REQUESTS,
    'Too many concurrent requests for this session; retry shortly',
    {
      headers: { 'retry-after': '1' },
      id: idOf(messages),
    },
  );

const draining = (messages: unknown) =>
  httpRpcError(503, JsonRpcCodes.SERVER_ERROR, ErrorCodes.DRAINING, 'This worker is shutting down; retry to reach another', {
    headers: { 'retry-after': '1', connection: 'close' },
    id: idOf(messages),
  });

const duplicateId = (messages: unknown) =>
  httpRpcError(
    400,
    JsonRpcCodes.INVALID_REQUEST,
    ErrorCodes.INVALID_REQUEST,
    'Invalid Request: a request with this id is already in flight in this session',
    { id: idOf(messages) },
  );

/** The ids of the requests (not notifications or responses) in a body. */
function requestIds(messages: unknown): Array<string | number> {
  const ids: Array<string | number> = [];
  for (const m of Array.isArray(messages) ? messages : [messages]) {
    const id = idOf(m);
    if (id !== null && typeof (m as { method?: unknown }).method === 'string') ids.push(id);
  }
  return ids;
}

const sessionRequired = () =>
  httpRpcError(400, JsonRpcCodes.SERVER_ERROR, ErrorCodes.SESSION_REQUIRED, 'Bad Request: Mcp-Session-Id header is required');

const storeUnavailable = () =>
  httpRpcError(503, JsonRpcCodes.SERVER_ERROR, ErrorCodes.STORE_UNAVAILABLE, 'Session store unavailable; retry shortly', {
    headers: { 'retry-after': '1' },
  });

const handedOff = () =>
  httpRpcError(503, JsonRpcCodes.SERVER_ERROR, ErrorCodes.DRAINING, 'This worker handed its sessions off; retry', {
    headers: { 'retry-after': '1', connection: 'close' },
  });

const misdirected = () => ({
  ...httpRpcError(421, JsonRpcCodes.SERVER_ERROR, ErrorCodes.SESSION_NOT_FOUND, 'Misdirected: this worker does not own the session'),
  headers: { [MISDIRECTED_HEADER]: '1' },
});

/**
 * This worker hands its sessions off (the end of a drain): a hop's sender finds the new owner,
 * a client retries and reaches another worker.
 */
function refuseHandedOff(req: IncomingMessage, res: ServerResponse): undefined {
  sendRpcError(res, requestState(req).verifiedHop ? misdirected() : handedOff());
  return undefined;
}

/**
 * An awake session, unless this worker's lease lapsed since it last knew the session was its own
 * (a pause) and the store says another worker took it meanwhile: then the copy here is dropped,
 * and a hop's sender is told to find the owner (421).
 */
async function fenced(
  factory: SessionFactory,
  req: IncomingMessage,
  res: ServerResponse,
  session: OwnedSession | undefined,
): Promise<OwnedSession | undefined> {
  if (!session || factory.registry.trusted(session, Date.now())) return session;
  const ours = await factory.registry.verify(session).catch(() => {
    // Cannot tell while the store is away: another worker may have taken it. Retry shortly.
    sendRpcError(res, storeUnavailable());
    return false;
  });
  if (ours) return session;
  if (requestState(req).verifiedHop && !res.headersSent) sendRpcError(res, misdirected());
  return undefined;
}

/**
 * A session that is not awake here, with continuity: asleep here, adopted here, or owned
 * elsewhere. Rebuilt from its record when this worker owns it (one store lookup, unless
 * `sessionAffinity` already made it); a hop for a session owned elsewhere is answered 421, so the
 * sender finds the owner again. `undefined` (or an answer already sent) otherwise.
 */
async function wake(
  factory: SessionFactory,
  req: IncomingMessage,
  res: ServerResponse,
  scope: McpScope,
  sessionId: string,
): Promise<OwnedSession | undefined> {
  const { registry } = factory;
  const resolution = await factory.resolve(sessionId, requestState(req).sessionRecord);
  if (resolution.kind === 'remote' && requestState(req).verifiedHop) {
    sendRpcError(res, misdirected());
    return undefined;
  }
  if (resolution.kind !== 'local' || resolution.record.scope !== scopeKey(scope)) return undefined;
  return registry.wake(sessionId, () => rebuildSession(factory, resolution.record, scope));
}

export async function serveSessionRequest(
  factory: SessionFactory,
  isDraining: () => boolean,
  req: IncomingMessage,
  res: ServerResponse,
  scope: McpScope,
  messages: unknown,
): Promise<void> {
  const { registry } = factory;
  const sessionId = singleHeader(req, SESSION_HEADER);
  if (sessionId !== undefined && sessionId !== '') {
    const session = registry.handedOff
      ? refuseHandedOff(req, res)
      : ((await fenced(factory, req, res, registry.get(sessionId))) ??
        (registry.continuity && !res.headersSent ? await wake(factory, req, res, scope, sessionId) : undefined));
    if (res.headersSent) return;
    // Another endpoint's session, or another principal's (or nobody's, for a bound one): no such
    // session here, the same answer as an id never issued, so it tells nothing.
    if (!session || session.scope !== scopeKey(scope) || session.principal !== principalOf(authOf(req))) {
      return sendRpcError(res, sessionNotFound());
    }
    // Past its absolute lifetime: ended, and answered like any ended session.
    if (registry.outlived(session, Date.now())) {
      await registry.end(session, 'expired');
      return sendRpcError(res, sessionNotFound());
    }
    if (req.method === 'POST') {
      // Without the header, the version negotiated at initialize applies (not 2025-03-26's batches).
      const problem = checkMessages(messages, singleHeader(req, 'mcp-protocol-version') ?? session.init.protocolVersion);
      if (problem) return sendRpcError(res, problem);
    }
    const admitted = registry.begin(session, res, req.method === 'POST' ? requestIds(messages) : []);
    if (admitted === 'busy') return sendRpcError(res, tooManyForSession(messages));
    if (admitted === 'duplicate') return sendRpcError(res, duplicateId(messages));
    return session.handle(req, res, messages);
  }
  if (req.method === 'POST') {
    const problem = checkMessages(messages, singleHeader(req, 'mcp-protocol-version'));
    if (problem) return sendRpcError(res, problem);
    if (!Array.isArray(messages) && isInitializeRequest(messages)) {
      // A draining worker takes no new session: the client starts it elsewhere.
      if (isDraining()) return sendRpcError(res, draining(messages));
      // A virtual server the principal may not use does not exist for it.
      if (!(await factory.core.permitsServer(scope, authOf(req)))) return sendRpcError(res, unknownServer());
      return openSession(factory, req, res, scope, messages as Parameters<typeof openSession>[4]);
    }
  }
  sendRpcError(res, sessionRequired());
}
