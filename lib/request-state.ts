/**
 * What the four middlewares learn about a request and hand to each other. It lives under a
 * symbol, so nothing a client sends can set it.
 */
import type { IncomingMessage } from 'node:http';
import { ErrorCodes, type HttpRpcError, httpRpcError, JsonRpcCodes } from './errors.js';
import type { McpScope } from './types.js';

const kState = Symbol.for('express-mcp-affinity.request-state');

export interface RequestState {
  /** The body's bytes, read once and shared. */
  rawBody?: Buffer;
  /** The body parsed as JSON (by `serverScope`), with `params.server_id` rewritten. */
  messages?: unknown;
  /** Set by `serverScope`; `rpcDispatch` refuses to run without it. */
  scope?: McpScope;
  /** Whether the request claims to be an internal hop (computed once). */
  claimsInternal?: boolean;
  /** Set by `sessionAffinity` once it routed the request (it runs once per request). */
  routed?: boolean;
  /** Set by `internalForwardGuard` once a hop's signature checked out. */
  verifiedHop?: { sourceWorkerId: string };
}

type WithState = IncomingMessage & { [kState]?: RequestState };

export function requestState(req: IncomingMessage): RequestState {
  const holder = req as WithState;
  return (holder[kState] ??= {});
}

/** The scope `serverScope` set for this request, or `undefined` when it did not run. */
export function getScope(req: IncomingMessage): McpScope | undefined {
  return (req as WithState)[kState]?.scope;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export const INTERNAL_HEADER = 'x-forwarded-internally';

/** True when the request carries the internal header in any letter case, any value, any count. */
export function claimsInternal(req: IncomingMessage): boolean {
  const state = requestState(req);
  return (state.claimsInternal ??= scanForInternalHeader(req));
}

function scanForInternalHeader(req: IncomingMessage): boolean {
  if (req.headers[INTERNAL_HEADER] !== undefined) return true;
  // Node folds names to lower case in `headers`, but look at the raw list too, so that no
  // spelling escapes the guard.
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === INTERNAL_HEADER.length && raw[i]!.toLowerCase() === INTERNAL_HEADER) return true;
  }
  return false;
}

function tooLarge(limit: number): HttpRpcError {
  return httpRpcError(413, JsonRpcCodes.INVALID_REQUEST, ErrorCodes.BODY_TOO_LARGE, `Payload too large: the body exceeds ${limit} bytes`, {
    headers: { connection: 'close' },
  });
}

type BodyParsedRequest = IncomingMessage & { body?: unknown; _body?: boolean };

/**
 * The request body's bytes, read once (the first reader's limit applies) and cached. A body an
 * earlier `express.json()` consumed is re-serialized, which loses nothing JSON can express.
 */
export function readRawBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const state = requestState(req);
  if (state.rawBody) return Promise.resolve(state.rawBody);
  const parsed = req as BodyParsedRequest;
  if (parsed._body === true || req.readableEnded) {
    // What an earlier body parser left: raw bytes or text as they were, parsed JSON re-serialized.
    const body = parsed.body;
    const bytes =
      body === undefined
        ? Buffer.alloc(0)
        : Buffer.isBuffer(body)
          ? body
          : typeof body === 'string'
            ? Buffer.from(body)
            : Buffer.from(JSON.stringify(body));
    state.rawBody = bytes;
    return Promise.resolve(bytes);
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      state.rawBody = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      resolve(state.rawBody);
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onAborted = (): void => onError(new Error('request aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

export function isHttpRpcError(value: unknown): value is HttpRpcError {
  return typeof value === 'object' && value !== null && 'rpcCode' in value && 'status' in value;
}

/** The single value of a header that may have been sent more than once. */
export function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export const SESSION_HEADER = 'mcp-session-id';
