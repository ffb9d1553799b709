/**
 * Sends a request to the worker that owns its session: signed, over a keep-alive connection to the
 * owner's internal listener, the answer streamed back as the owner writes it. Failures map to
 * statuses here: nobody listening means the owner is gone (404), a host that never answers a
 * connect is unreachable (503), an owner that does not answer in time is a 504.
 */
import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { authOf, encodePrincipal, PRINCIPAL_HEADER } from '../auth/principal.js';
import { ErrorCodes, JsonRpcCodes } from '../errors.js';
import { INTERNAL_HEADER } from '../http/request-state.js';
import { httpRpcError, sendRpcError, sessionNotFound } from '../http/rpc-error.js';
import type { MetricsSink } from '../metrics.js';
import type { Logger, SessionStore, WorkerRecord } from '../types.js';
import { copyRequestHeaders, copyResponseHeaders, FORWARDED_HEADER } from './hop-headers.js';
import { SIGNATURE_HEADER, signHop } from './hop-signature.js';
import { childTraceparent, hopTracestate } from './trace.js';

/** Errors that mean nobody listens at the owner's address any more: its process is gone. */
const OWNER_GONE = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH']);
/** Of those, the ones that prove the request never reached anybody: safe to send elsewhere. */
const NOT_DELIVERED = new Set(['ECONNREFUSED', 'ENOENT']);

/** Tries on pooled connections found closed before one of them (or a new one) carries the hop. */
const MAX_STALE_SOCKETS = 4;

/** The answer of a worker that received a hop for a session it does not own (any more). */
export const MISDIRECTED_HEADER = 'mcp-affinity-misdirected';

/**
 * Called, instead of answering, when the owner is gone before the request reached it, or the
 * worker answered that the session is not its own: the caller finds the owner again.
 */
export type OwnerGone = (unreachable: string | undefined) => void;

export interface ForwarderDeps {
  readonly workerId: string;
  /** The secrets now, newest first: the first signs (they change with `rotateSecrets`). */
  readonly secrets: () => readonly string[];
  readonly forwardTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly exposeWorkerHeaders: boolean;
  readonly debugLogging: boolean;
  readonly logger: Logger;
  readonly metrics: MetricsSink;
  readonly store: SessionStore;
}

type Target = { socketPath: string } | { host: string; port: number };
const targets = new WeakMap<WorkerRecord, Target>();
/** Where to connect for a worker, parsed once per record rather than once per forward. */
function targetOf(owner: WorkerRecord): Target {
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

const ownerGoneEvent = (id: string | number): string =>
  `event: message\ndata: ${JSON.stringify({
    jsonrpc: '2.0',
    id,
    error: {
      code: JsonRpcCodes.SESSION_NOT_FOUND,
      message: 'The session ended: its owner is gone; initialize a new session',
      data: { code: ErrorCodes.SESSION_NOT_FOUND },
    },
  })}\n\n`;

interface Hop {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly owner: WorkerRecord;
  readonly sessionId: string;
  readonly body: Buffer;
  readonly url: string;
  readonly method: string;
  readonly started: number;
  readonly onOwnerGone: OwnerGone | undefined;
}

export class Forwarder {
  /** Keep-alive connections to peers, so a hop does not pay for a TCP handshake. */
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, scheduling: 'lifo' });

  constructor(private readonly deps: ForwarderDeps) {}

  /** Forwards the request (whose body was read into `body`) to `owner`, once. */
  send(req: IncomingMessage, res: ServerResponse, owner: WorkerRecord, sessionId: string, body: Buffer, onOwnerGone?: OwnerGone): void {
    const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    this.attempt({ req, res, owner, sessionId, body, url, method: req.method ?? 'GET', started: performance.now(), onOwnerGone }, 0);
  }

  private headers(hop: Hop): http.OutgoingHttpHeaders {
    const { req, owner, body } = hop;
    const headers = copyRequestHeaders(req);
    headers['content-length'] = body.length;
    headers[INTERNAL_HEADER] = 'true';
    const principal = encodePrincipal(authOf(req));
    if (principal !== undefined) headers[PRINCIPAL_HEADER] = principal;
    headers[SIGNATURE_HEADER] = signHop(this.deps.secrets()[0]!, {
      method: hop.method,
      url: hop.url,
      sessionId: hop.sessionId,
      targetWorkerId: owner.workerId,
      sourceWorkerId: this.deps.workerId,
      body,
      headers,
    });
    const traceparent = childTraceparent(req.headers.traceparent);
    if (traceparent) {
      headers.traceparent = traceparent;
      headers.tracestate = hopTracestate(this.deps.workerId, req.headers.tracestate);
    }
    return headers;
  }

  private attempt(hop: Hop, attempt: number): void {
    const { res, owner, method } = hop;
    const upstream = http.request({ ...targetOf(owner), agent: this.agent, method, path: hop.url, headers: this.headers(hop) });
    const timer = setTimeout(
      () => upstream.destroy(Object.assign(new Error('owner timed out'), { code: 'MCP_FORWARD_TIMEOUT' })),
      this.deps.forwardTimeoutMs,
    );
    // A host that vanished (powered off, partitioned) never refuses: give up on connecting early.
    upstream.once('socket', (socket) => {
      if (!socket.connecting) return;
      const connectTimer = setTimeout(
        () => upstream.destroy(Object.assign(new Error('connect timed out'), { code: 'MCP_CONNECT_TIMEOUT' })),
        this.deps.connectTimeoutMs,
      );
      socket.once('connect', () => clearTimeout(connectTimer));
      socket.once('close', () => clearTimeout(connectTimer));
    });
    // The client went away: stop the owner's work too.
    const onClientClose = (): void => {
      if (res.writableFinished) return;
      if (!res.headersSent) this.deps.metrics.forward('client_gone', (performance.now() - hop.started) / 1000);
      upstream.destroy();
    };
    res.on('close', onClientClose);
    upstream.on('response', (answer) => {
      clearTimeout(timer);
      if (answer.statusCode === 421 && answer.headers[MISDIRECTED_HEADER] !== undefined && hop.onOwnerGone) {
        // Not the owner (any more): nothing ran there; find the owner again.
        answer.resume();
        res.off('close', onClientClose);
        // It does not own the session: for this session, it is as good as unreachable.
        return hop.onOwnerGone(owner.workerId);
      }
      this.relay(hop, answer);
    });
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      res.off('close', onClientClose);
      if (res.headersSent || res.destroyed) return void res.destroy();
      // A pooled connection the owner closed between requests: the request never reached it.
      // Several pooled connections may have gone at once (an owner that closed): a few tries.
      if (upstream.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE') && attempt < MAX_STALE_SOCKETS) {
        return this.attempt(hop, attempt + 1);
      }
      if (hop.onOwnerGone && error.code && NOT_DELIVERED.has(error.code)) {
        this.deps.metrics.forward('owner_gone', (performance.now() - hop.started) / 1000);
        this.deps.store.forgetWorker?.(owner.workerId);
        return hop.onOwnerGone(owner.workerId);
      }
      this.fail(hop, error);
    });
    upstream.end(hop.body);
  }

  /** Streams the owner's answer back, never buffered: each SSE event as the owner writes it. */
  private relay(hop: Hop, answer: IncomingMessage): void {
    const { res } = hop;
    const seconds = (performance.now() - hop.started) / 1000;
    this.deps.metrics.forward('ok', seconds);
    res.statusCode = answer.statusCode ?? 502;
    copyResponseHeaders(answer, res);
    if (this.deps.exposeWorkerHeaders) res.setHeader(FORWARDED_HEADER, 'true');
    const isStream = String(answer.headers['content-type'] ?? '').startsWith('text/event-stream');
    // A GET stream's headers go out at once (it may wait long for its first event); a POST's
    // stream starts with its answer, so its headers leave with the first event, in one write.
    if (isStream && hop.method === 'GET') res.flushHeaders();
    answer.pipe(res);
    answer.on('error', () => undefined); // reported through 'close' below
    answer.once('close', () => {
      if (answer.complete || res.writableEnded) return;
      // The owner died mid-response. A stream ends with a JSON-RPC error for each request it
      // was answering, so the client fails cleanly.
      if (isStream && !res.destroyed) {
        answer.unpipe(res);
        for (const id of requestIds(hop.body)) res.write(ownerGoneEvent(id));
        res.end();
      } else {
        res.destroy();
      }
    });
    if (this.deps.debugLogging) {
      this.deps.logger.debug?.(
        {
          event: 'mcp_affinity.forward',
          method: hop.method,
          path: hop.url.split('?', 1)[0],
          session: sessionRef(hop.sessionId),
          from: this.deps.workerId,
          to: hop.owner.workerId,
          status: res.statusCode,
          ms: Math.round(seconds * 1e4) / 10,
        },
        'forwarded a request to its session owner',
      );
    }
  }

  private fail(hop: Hop, error: NodeJS.ErrnoException): void {
    const { res, owner } = hop;
    const { logger, metrics, store } = this.deps;
    const seconds = (performance.now() - hop.started) / 1000;
    if (error.code === 'MCP_CONNECT_TIMEOUT') {
      // Maybe gone, maybe cut off: look it up afresh next time.
      store.forgetWorker?.(owner.workerId);
      metrics.forward('connect_timeout', seconds);
      logger.warn(`[express-mcp-affinity] could not connect to owner ${owner.workerId} within ${this.deps.connectTimeoutMs} ms`);
      return sendRpcError(
        res,
        httpRpcError(503, JsonRpcCodes.SERVER_ERROR, ErrorCodes.FORWARD_FAILED, 'The session owner is unreachable; retry shortly', {
          headers: { 'retry-after': '1' },
        }),
      );
    }
    if (error.code === 'MCP_FORWARD_TIMEOUT') {
      metrics.forward('timeout', seconds);
      logger.warn(
        `[express-mcp-affinity] owner ${owner.workerId} did not answer ${hop.method} ${hop.url} within ${this.deps.forwardTimeoutMs} ms`,
      );
      return sendRpcError(
        res,
        httpRpcError(504, JsonRpcCodes.SERVER_ERROR, ErrorCodes.FORWARD_TIMEOUT, 'The session owner did not answer in time'),
      );
    }
    if (error.code && OWNER_GONE.has(error.code) && hop.onOwnerGone) {
      // The session lives on (continuity), but this request may have reached the dead owner:
      // not safe to send again; the client's retry finds the session's new owner.
      store.forgetWorker?.(owner.workerId);
      metrics.forward('owner_gone', seconds);
      return sendRpcError(
        res,
        httpRpcError(503, JsonRpcCodes.SERVER_ERROR, ErrorCodes.FORWARD_FAILED, 'The session owner went away; retry', {
          headers: { 'retry-after': '1' },
        }),
      );
    }
    if (error.code && OWNER_GONE.has(error.code)) {
      // The owner's process is gone, and the session with it: 404 makes the client start over.
      logger.warn(
        `[express-mcp-affinity] owner ${owner.workerId} of session ${sessionRef(hop.sessionId)} is unreachable (${error.code}); answering 404`,
      );
      store.forgetWorker?.(owner.workerId);
      metrics.forward('owner_gone', seconds);
      return sendRpcError(res, sessionNotFound());
    }
    metrics.forward('failed', seconds);
    logger.error(`[express-mcp-affinity] forward to ${owner.workerId} failed: ${error.message}`);
    sendRpcError(res, httpRpcError(502, JsonRpcCodes.SERVER_ERROR, ErrorCodes.FORWARD_FAILED, 'The session owner could not be reached'));
  }

  close(): void {
    this.agent.destroy();
  }
}
