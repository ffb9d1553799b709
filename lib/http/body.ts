/** The request body's bytes, read once per request and bounded. */
import type { IncomingMessage } from 'node:http';
import { ErrorCodes, JsonRpcCodes } from '../errors.js';
import { requestState } from './request-state.js';
import { type HttpRpcError, httpRpcError } from './rpc-error.js';

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;

/** How much of a body is read, and for how long. */
export interface BodyLimits {
  readonly bodyLimit: number;
  readonly bodyTimeoutMs: number;
}

function tooSlow(timeoutMs: number): HttpRpcError {
  return httpRpcError(
    408,
    JsonRpcCodes.INVALID_REQUEST,
    ErrorCodes.BODY_TIMEOUT,
    `Request timeout: the body did not arrive within ${timeoutMs} ms`,
    {
      headers: { connection: 'close' },
    },
  );
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
export function readRawBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const { bodyLimit: limit, bodyTimeoutMs } = limits;
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
    // A client that declares a body and never sends it must not hold the request (and its slot).
    const timer = setTimeout(() => {
      cleanup();
      reject(tooSlow(bodyTimeoutMs));
    }, bodyTimeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
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
