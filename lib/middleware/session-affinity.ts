/**
 * `sessionAffinity`: sends each request to the worker that owns its session.
 *
 * The owner's id is written in the session id, so finding it is a string split plus one
 * `store.getWorker()` (answered from memory by the memory and cluster stores, from a short cache
 * by Redis). A session this worker owns, a request without a session (initialize, sessionless
 * protocols) and anything that already claims to be an internal hop go to `next()`: a hop is
 * never forwarded again.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, RequestHandler } from 'express';
import { ErrorCodes, JsonRpcCodes } from '../errors.js';
import type { OwnerGone } from '../hop/forwarder.js';
import { RECEIVED_BY_HEADER } from '../hop/hop-headers.js';
import { type BodyLimits, DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT_MS, readRawBody } from '../http/body.js';
import { claimsInternal, requestState, SESSION_HEADER, singleHeader } from '../http/request-state.js';
import { httpRpcError, isHttpRpcError, sendRpcError, sessionNotFound } from '../http/rpc-error.js';
import { isSessionless } from '../mcp/sessionless.js';
import { SESSION_AFFINITY_OPTION_NAMES } from '../options/option-names.js';
import { checkOptionsObject, positiveInteger } from '../options/validations.js';
import { ownerOf } from '../session-id.js';
import { resolveSession } from '../sessions/continuity.js';
import type { SessionAffinityOptions, WorkerRecord } from '../types.js';
import { type AffinityWorker, resolveWorkerOption } from '../worker.js';

const OWNER = 'sessionAffinity';

export function resolveBodyLimits(owner: string, options: { bodyLimit?: unknown; bodyTimeoutMs?: unknown }): BodyLimits {
  return {
    bodyLimit: positiveInteger(owner, 'bodyLimit', options.bodyLimit, DEFAULT_BODY_LIMIT),
    bodyTimeoutMs: positiveInteger(owner, 'bodyTimeoutMs', options.bodyTimeoutMs, DEFAULT_BODY_TIMEOUT_MS),
  };
}

export const atCapacity = () =>
  httpRpcError(503, JsonRpcCodes.SERVER_ERROR, ErrorCodes.TOO_MANY_REQUESTS, 'This worker is at capacity; retry shortly', {
    headers: { 'retry-after': '1' },
  });

const declaresBody = (req: IncomingMessage): boolean =>
  req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

const unexpectedBody = (method: string) =>
  httpRpcError(400, JsonRpcCodes.INVALID_REQUEST, ErrorCodes.UNEXPECTED_BODY, `Bad Request: a ${method} to an MCP endpoint has no body`, {
    headers: { connection: 'close' },
  });

const routingUnavailable = () =>
  httpRpcError(503, JsonRpcCodes.SERVER_ERROR, ErrorCodes.STORE_UNAVAILABLE, 'Session routing is unavailable; retry shortly', {
    headers: { 'retry-after': '1' },
  });

const forbiddenOrigin = (what: 'host' | 'origin') =>
  httpRpcError(
    403,
    JsonRpcCodes.SERVER_ERROR,
    ErrorCodes.FORBIDDEN_ORIGIN,
    what === 'host' ? 'Forbidden: Host not allowed' : 'Forbidden: Origin not allowed',
  );

/** Reads the body (never parsed here) and hands the request to the forwarder. */
function forward(
  worker: AffinityWorker,
  limits: BodyLimits,
  req: IncomingMessage,
  res: ServerResponse,
  owner: WorkerRecord,
  sessionId: string,
  onOwnerGone?: OwnerGone,
) {
  readRawBody(req, limits).then(
    (body) => {
      // Counted once the body is in (a client that sends nothing holds no slot), here only: the
      // owner does not count the hop again.
      if (!worker.admit(req, res)) return sendRpcError(res, atCapacity());
      worker.forwarder.send(req, res, owner, sessionId, body, onOwnerGone);
    },
    (error: unknown) => {
      if (isHttpRpcError(error)) sendRpcError(res, error);
      else res.destroy();
    },
  );
}

/** Finds the owner's address and forwards, or answers 404 (owner unknown) or 503 (store down). */
function route(worker: AffinityWorker, limits: BodyLimits, req: IncomingMessage, res: ServerResponse, ownerId: string, sessionId: string) {
  const { metrics } = worker;
  const to = (owner: WorkerRecord | undefined): void => {
    if (owner === undefined) sendRpcError(res, sessionNotFound());
    else forward(worker, limits, req, res, owner, sessionId);
  };
  const found = worker.store.getWorker(ownerId);
  if (!(found instanceof Promise)) {
    metrics.lookup(found === undefined ? 'unknown' : 'hit');
    return to(found);
  }
  metrics.lookup('miss');
  found.then(to, (error: unknown) => storeFailed(worker, res, `store lookup for worker ${ownerId}`, error));
}

function storeFailed(worker: AffinityWorker, res: ServerResponse, what: string, error: unknown): void {
  worker.metrics.lookup('error');
  worker.metrics.storeError('getWorker');
  worker.logger.error(`[express-mcp-affinity] ${what} failed: ${String(error)}`);
  sendRpcError(res, routingUnavailable());
}

/**
 * With session continuity: the worker the id names (or the one the session moved to) when it is
 * live, else the owner the session's record resolves to, adopting it here when nobody live owns
 * it. A forward that finds the owner gone before delivering resolves once more.
 */
function routeLiving(
  worker: AffinityWorker,
  limits: BodyLimits,
  req: IncomingMessage,
  res: ServerResponse,
  next: NextFunction,
  ownerId: string,
  sessionId: string,
) {
  const { metrics } = worker;
  const resolve = (unreachable: string | undefined, retried: boolean): void => {
    resolveSession(worker, sessionId, unreachable).then(
      (resolution) => {
        if (resolution.kind === 'gone') return sendRpcError(res, sessionNotFound());
        if (resolution.kind === 'local') {
          requestState(req).sessionRecord = resolution.record;
          return next();
        }
        forward(worker, limits, req, res, resolution.owner, sessionId, retried ? undefined : (gone) => resolve(gone, true));
      },
      (error: unknown) => storeFailed(worker, res, 'session lookup', error),
    );
  };
  const target = worker.movedSessions.get(sessionId) ?? ownerId;
  if (target === worker.workerId) return resolve(undefined, false);
  const to = (owner: WorkerRecord | undefined): void => {
    if (owner === undefined) return resolve(target, false);
    forward(worker, limits, req, res, owner, sessionId, (gone) => {
      worker.movedSessions.delete(sessionId);
      resolve(gone, true);
    });
  };
  const found = worker.store.getWorker(target);
  if (!(found instanceof Promise)) {
    metrics.lookup(found === undefined ? 'unknown' : 'hit');
    return to(found);
  }
  metrics.lookup('miss');
  found.then(to, (error: unknown) => storeFailed(worker, res, `store lookup for worker ${target}`, error));
}

/** Where a request that is not a hop goes: served here (`next`), or forwarded to its session's owner. */
function routeRequest(worker: AffinityWorker, limits: BodyLimits, req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
  // 2026-07-28 is sessionless: whatever worker receives a request serves it, never forwarded.
  if (isSessionless(req)) return next();
  const sessionId = singleHeader(req, SESSION_HEADER);
  if (sessionId === undefined || sessionId === '') return next();
  const ownerId = ownerOf(sessionId);
  // Not an id any worker issued: rpcDispatch answers 404.
  if (ownerId === undefined) return next();
  // Awake here, and this worker's lease held since: served here, without a lookup.
  const awake = worker.sessions.get(sessionId);
  if (awake && worker.sessions.trusted(awake, Date.now())) {
    worker.metrics.lookup('owned');
    return next();
  }
  if (worker.sessions.continuity) {
    if (!awake) return routeLiving(worker, limits, req, res, next, ownerId, sessionId);
    // The lease lapsed (a pause): ours still, or taken over meanwhile (then routed to its owner).
    return void worker.sessions.verify(awake).then(
      (ours) => (ours ? next() : routeLiving(worker, limits, req, res, next, ownerId, sessionId)),
      (error: unknown) => storeFailed(worker, res, 'session check', error),
    );
  }
  if (awake) return next();
  if (ownerId === worker.workerId) return next();
  route(worker, limits, req, res, ownerId, sessionId);
}

export function sessionAffinity(options: SessionAffinityOptions): RequestHandler {
  checkOptionsObject(OWNER, options, SESSION_AFFINITY_OPTION_NAMES);
  const worker = resolveWorkerOption(OWNER, options.worker);
  const limits = resolveBodyLimits(OWNER, options);

  return function sessionAffinityMiddleware(req, res, next: NextFunction): void {
    // Once per request, even when a front (`mcp.front(app)`) already ran it before Express.
    const state = requestState(req);
    if (state.routed) return next();
    state.routed = true;
    if (worker.exposeWorkerHeaders) res.setHeader(RECEIVED_BY_HEADER, worker.workerId);
    // An MCP GET or DELETE has no body: one declared is refused before a byte of it is read.
    if ((req.method === 'GET' || req.method === 'DELETE') && declaresBody(req)) return sendRpcError(res, unexpectedBody(req.method));
    // A hop (or a forgery of one) is never forwarded again; internalForwardGuard judges it. Its
    // Host and Origin were checked by the worker that received it.
    if (claimsInternal(req)) return next();
    // DNS-rebinding protection, before anything else happens to the request.
    const refused = worker.admitsOrigin(req.headers.host, singleHeader(req, 'origin'));
    if (refused) return sendRpcError(res, forbiddenOrigin(refused));
    // The bearer token is verified here, once: a forward carries the principal, signed.
    if (worker.bearerCheck) return worker.bearerCheck(req, res, () => routeRequest(worker, limits, req, res, next));
    routeRequest(worker, limits, req, res, next);
  };
}
