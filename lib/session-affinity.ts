/**
 * `sessionAffinity`: sends each request to the worker that owns its session.
 *
 * The owner's id is written in the session id, so finding it is a string split plus one
 * `store.getWorker()` (answered from memory by the memory and cluster stores). A session this
 * worker owns, a request without a session (initialize, sessionless protocols) and anything that
 * already claims to be an internal hop go to `next()`: a hop is never forwarded again.
 */
import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { NextFunction, RequestHandler } from 'express';
import { ErrorCodes, httpRpcError, JsonRpcCodes, sendRpcError, sessionNotFound } from './errors.js';
import { SIGNATURE_HEADER, signHop } from './hop-signature.js';
import {
  claimsInternal,
  DEFAULT_BODY_LIMIT,
  INTERNAL_HEADER,
  isHttpRpcError,
  readRawBody,
  requestState,
  SESSION_HEADER,
  singleHeader,
} from './request-state.js';
import { isSessionless } from './sessionless.js';
import type { SessionAffinityOptions, WorkerRecord } from './types.js';
import { checkOptionsObject, invalidOption, positiveInteger } from './validations.js';
import { AffinityWorker } from './worker.js';

const OWNER = 'sessionAffinity';

/** Response headers that name workers, when `exposeWorkerHeaders` is on. */
export const RECEIVED_BY_HEADER = 'mcp-affinity-received-by';
export const SERVED_BY_HEADER = 'mcp-affinity-served-by';
export const FORWARDED_HEADER = 'mcp-affinity-forwarded';

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1); never copied across a hop. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  INTERNAL_HEADER,
  SIGNATURE_HEADER,
]);

/** Errors that mean nobody listens at the owner's address any more: its process is gone. */
const OWNER_GONE = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH']);

const targets = new WeakMap<WorkerRecord, { socketPath: string } | { host: string; port: number }>();
/** Where to connect for a worker, parsed once per record rather than once per forward. */
function targetOf(owner: WorkerRecord): { socketPath: string } | { host: string; port: number } {
  let target = targets.get(owner);
  if (!target) {
    if (owner.socketPath) target = { socketPath: owner.socketPath };
    else {
      const u = new URL(owner.internalUrl);
      target = { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
    }
    targets.set(owner, target);
  }
  return target;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
/** A W3C traceparent for the hop, child of the client's; `undefined` when there is none (or it is invalid). */
export function childTraceparent(value: string | string[] | undefined): string | undefined {
  const match = typeof value === 'string' ? TRACEPARENT.exec(value.trim()) : null;
  if (!match || match[1] === 'ff' || /^0+$/.test(match[2]!) || /^0+$/.test(match[3]!)) return undefined;
  return `00-${match[2]}-${randomBytes(8).toString('hex')}-${match[4]}`;
}

/** A session id is a bearer credential: logs carry a short digest of it instead. */
export const sessionRef = (sessionId: string): string => createHash('sha256').update(sessionId).digest('base64url').slice(0, 12);

/** Ids of the JSON-RPC requests in a body that was forwarded without being parsed. */
function requestIds(body: Buffer): Array<string | number> {
  if (body.length === 0) return [];
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    const ids: Array<string | number> = [];
    for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
      const id = (message as { id?: unknown; method?: unknown } | null)?.id;
      if (typeof (message as { method?: unknown })?.method === 'string' && (typeof id === 'string' || typeof id === 'number')) ids.push(id);
    }
    return ids;
  } catch {
    return [];
  }
}

const ownerGoneError = (id: string | number) => ({
  jsonrpc: '2.0',
  id,
  error: {
    code: JsonRpcCodes.SESSION_NOT_FOUND,
    message: 'The session ended: its owner is gone; initialize a new session',
    data: { code: ErrorCodes.SESSION_NOT_FOUND },
  },
});

export function resolveWorkerOption(owner: string, worker: unknown): AffinityWorker {
  if (!(worker instanceof AffinityWorker)) {
    throw invalidOption(
      owner,
      'worker',
      worker,
      'expected the object returned by createAffinityWorker({ secret }); create one per process and pass it to every middleware.',
    );
  }
  return worker;
}

export function resolveBodyLimit(owner: string, value: unknown): number {
  return positiveInteger(owner, 'bodyLimit', value, DEFAULT_BODY_LIMIT);
}

function copyRequestHeaders(req: IncomingMessage): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = {};
  const connectionTokens = new Set(
    String(req.headers.connection ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase()),
  );
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || connectionTokens.has(name)) continue;
    headers[name] = value;
  }
  return headers;
}

function copyResponseHeaders(from: IncomingMessage, to: ServerResponse): void {
  for (const [name, value] of Object.entries(from.headers)) {
    if (value === undefined || (HOP_BY_HOP.has(name) && name !== 'content-length') || name === RECEIVED_BY_HEADER) continue;
    to.setHeader(name, value);
  }
}

export function sessionAffinity(options: SessionAffinityOptions): RequestHandler {
  checkOptionsObject(OWNER, options, ['worker', 'bodyLimit']);
  const worker = resolveWorkerOption(OWNER, options.worker);
  const bodyLimit = resolveBodyLimit(OWNER, options.bodyLimit);
  const { logger } = worker;

  function sendToOwner(
    req: IncomingMessage,
    res: ServerResponse,
    owner: WorkerRecord,
    sessionId: string,
    body: Buffer,
    attempt: number,
  ): void {
    const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    const method = req.method ?? 'GET';
    const headers = copyRequestHeaders(req);
    headers['content-length'] = body.length;
    headers[INTERNAL_HEADER] = 'true';
    headers[SIGNATURE_HEADER] = signHop(worker.secrets[0]!, {
      method,
      url,
      sessionId,
      targetWorkerId: owner.workerId,
      sourceWorkerId: worker.workerId,
      body,
    });
    const traceparent = childTraceparent(req.headers.traceparent);
    if (traceparent) {
      // The hop is a span of its own: the owner's work is its child, and tracestate names the
      // worker that received the request.
      headers.traceparent = traceparent;
      headers.tracestate = [
        `mcpaffinity=${worker.workerId}`,
        ...String(req.headers.tracestate ?? '')
          .split(',')
          .filter((e) => e && !e.trim().startsWith('mcpaffinity=')),
      ]
        .slice(0, 32)
        .join(',');
    }
    const started = performance.now();
    const upstream = http.request({ ...targetOf(owner), agent: worker.agent, method, path: url, headers });
    const timer = setTimeout(
      () => upstream.destroy(Object.assign(new Error('owner timed out'), { code: 'MCP_FORWARD_TIMEOUT' })),
      worker.forwardTimeoutMs,
    );
    // A host that vanished (powered off, partitioned) never refuses: give up on connecting early.
    upstream.once('socket', (socket) => {
      if (!socket.connecting) return;
      const connectTimer = setTimeout(
        () => upstream.destroy(Object.assign(new Error('connect timed out'), { code: 'MCP_CONNECT_TIMEOUT' })),
        worker.connectTimeoutMs,
      );
      socket.once('connect', () => clearTimeout(connectTimer));
      socket.once('close', () => clearTimeout(connectTimer));
    });

    // The client went away: stop the owner's work too.
    const onClientClose = (): void => {
      if (res.writableFinished) return;
      if (!res.headersSent) worker.metrics.forward('client_gone', (performance.now() - started) / 1000);
      upstream.destroy();
    };
    res.on('close', onClientClose);

    upstream.on('response', (answer) => {
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      worker.metrics.forward('ok', seconds);
      res.statusCode = answer.statusCode ?? 502;
      copyResponseHeaders(answer, res);
      if (worker.exposeWorkerHeaders) res.setHeader(FORWARDED_HEADER, 'true');
      // Streamed, never buffered: each SSE event reaches the client as the owner writes it, and
      // a stream's headers go out before its first event.
      const isStream = String(answer.headers['content-type'] ?? '').startsWith('text/event-stream');
      // A GET stream's headers go out at once (it may wait long for its first event); a POST's
      // stream starts with its answer, so its headers leave with the first event, in one write.
      if (isStream && method === 'GET') res.flushHeaders();
      answer.pipe(res);
      answer.on('error', () => undefined); // reported through 'close' below
      answer.once('close', () => {
        if (answer.complete || res.writableEnded) return;
        // The owner died mid-response. A stream ends with a JSON-RPC error for each request it
        // was answering, so the client fails cleanly and its next request gets 404.
        if (isStream && !res.destroyed) {
          answer.unpipe(res);
          for (const id of requestIds(body)) res.write(`event: message\ndata: ${JSON.stringify(ownerGoneError(id))}\n\n`);
          res.end();
        } else {
          res.destroy();
        }
      });
      if (worker.debugLogging) {
        logger.debug?.(
          {
            event: 'mcp_affinity.forward',
            method,
            path: url.split('?', 1)[0],
            session: sessionRef(sessionId),
            from: worker.workerId,
            to: owner.workerId,
            status: res.statusCode,
            ms: Math.round(seconds * 1e4) / 10,
          },
          'forwarded a request to its session owner',
        );
      }
    });

    upstream.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      res.off('close', onClientClose);
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      const seconds = (performance.now() - started) / 1000;
      // A pooled connection the owner closed between requests: the request never reached it.
      if (upstream.reusedSocket && error.code === 'ECONNRESET' && attempt === 0) {
        sendToOwner(req, res, owner, sessionId, body, 1);
        return;
      }
      if (error.code === 'MCP_CONNECT_TIMEOUT') {
        // Maybe gone, maybe cut off: look it up afresh next time (the store drops it once its
        // heartbeat expires, and its sessions then answer 404).
        worker.store.forgetWorker?.(owner.workerId);
        worker.metrics.forward('connect_timeout', seconds);
        logger.warn(`[express-mcp-affinity] could not connect to owner ${owner.workerId} within ${worker.connectTimeoutMs} ms`);
        sendRpcError(
          res,
          httpRpcError(503, JsonRpcCodes.SERVER_ERROR, ErrorCodes.FORWARD_FAILED, 'The session owner is unreachable; retry shortly', {
            headers: { 'retry-after': '1' },
          }),
        );
        return;
      }
      if (error.code === 'MCP_FORWARD_TIMEOUT') {
        worker.metrics.forward('timeout', seconds);
        logger.warn(`[express-mcp-affinity] owner ${owner.workerId} did not answer ${method} ${url} within ${worker.forwardTimeoutMs} ms`);
        sendRpcError(
          res,
          httpRpcError(504, JsonRpcCodes.SERVER_ERROR, ErrorCodes.FORWARD_TIMEOUT, 'The session owner did not answer in time'),
        );
        return;
      }
      if (error.code && OWNER_GONE.has(error.code)) {
        // The owner's process is gone, and the session with it: 404 makes the client start over.
        logger.warn(`[express-mcp-affinity] owner ${owner.workerId} of session ${sessionId} is unreachable (${error.code}); answering 404`);
        worker.store.forgetWorker?.(owner.workerId);
        worker.metrics.forward('owner_gone', seconds);
        sendRpcError(res, sessionNotFound());
        return;
      }
      worker.metrics.forward('failed', seconds);
      logger.error(`[express-mcp-affinity] forward to ${owner.workerId} failed: ${error.message}`);
      sendRpcError(res, httpRpcError(502, JsonRpcCodes.SERVER_ERROR, ErrorCodes.FORWARD_FAILED, 'The session owner could not be reached'));
    });

    upstream.end(body);
  }

  function forward(req: IncomingMessage, res: ServerResponse, owner: WorkerRecord, sessionId: string): void {
    readRawBody(req, bodyLimit).then(
      (body) => sendToOwner(req, res, owner, sessionId, body, 0),
      (error: unknown) => {
        if (isHttpRpcError(error)) sendRpcError(res, error);
        else res.destroy();
      },
    );
  }

  return function sessionAffinityMiddleware(req, res, next: NextFunction): void {
    // Once per request, even when a front (`mcp.front(app)`) already ran it before Express.
    const state = requestState(req);
    if (state.routed) return next();
    state.routed = true;
    if (worker.exposeWorkerHeaders) res.setHeader(RECEIVED_BY_HEADER, worker.workerId);
    // Bounded work per worker; GET streams stay open by design and are bounded per session.
    if (req.method !== 'GET' && !worker.admitRequest(res)) {
      return sendRpcError(
        res,
        httpRpcError(503, JsonRpcCodes.SERVER_ERROR, ErrorCodes.TOO_MANY_REQUESTS, 'This worker is at capacity; retry shortly', {
          headers: { 'retry-after': '1' },
        }),
      );
    }
    // A hop (or a forgery of one) is never forwarded again; internalForwardGuard judges it. Its
    // Host and Origin were checked by the worker that received it.
    if (claimsInternal(req)) return next();
    // DNS-rebinding protection, before anything else happens to the request.
    const refused = worker.admitsOrigin(req.headers.host, singleHeader(req, 'origin'));
    if (refused) {
      return sendRpcError(
        res,
        httpRpcError(
          403,
          JsonRpcCodes.SERVER_ERROR,
          ErrorCodes.FORBIDDEN_ORIGIN,
          refused === 'host' ? 'Forbidden: Host not allowed' : 'Forbidden: Origin not allowed',
        ),
      );
    }
    // 2026-07-28 is sessionless: whatever worker receives a request serves it, never forwarded.
    if (isSessionless(req)) return next();
    const sessionId = singleHeader(req, SESSION_HEADER);
    if (sessionId === undefined || sessionId === '') return next();
    const ownerId = AffinityWorker.ownerOf(sessionId);
    // Ours, or not an id any worker issued (rpcDispatch answers 404): serve here.
    if (ownerId === undefined || ownerId === worker.workerId) {
      if (ownerId !== undefined) worker.metrics.lookup('owned');
      return next();
    }

    const route = (owner: WorkerRecord | undefined): void => {
      if (owner === undefined) sendRpcError(res, sessionNotFound());
      else forward(req, res, owner, sessionId);
    };
    const found = worker.store.getWorker(ownerId);
    if (found instanceof Promise) {
      worker.metrics.lookup('miss');
      found.then(route, (error: unknown) => {
        worker.metrics.lookup('error');
        worker.metrics.storeError('getWorker');
        logger.error(`[express-mcp-affinity] store lookup for worker ${ownerId} failed: ${String(error)}`);
        sendRpcError(
          res,
          httpRpcError(503, JsonRpcCodes.SERVER_ERROR, ErrorCodes.STORE_UNAVAILABLE, 'Session routing is unavailable; retry shortly', {
            headers: { 'retry-after': '1' },
          }),
        );
      });
    } else {
      worker.metrics.lookup(found === undefined ? 'unknown' : 'hit');
      route(found);
    }
  };
}
