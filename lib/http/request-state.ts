/**
 * What the four middlewares learn about a request and hand to each other. It lives under a
 * symbol, so nothing a client sends can set it.
 */
import type { IncomingMessage } from 'node:http';
import type { McpScope, SessionRecord } from '../types.js';

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
  /** Set by `sessionAffinity` when the session's record says this worker owns it (continuity). */
  sessionRecord?: SessionRecord;
  /** Set once this package's bearer check accepted the request's token (it runs once). */
  authenticated?: boolean;
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

/** The single value of a header that may have been sent more than once. */
export function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export const SESSION_HEADER = 'mcp-session-id';

/**
 * Whether the request is a hop from another worker (it claims to be one; `internalForwardGuard`
 * refuses it with 403 unless its signature checks out). For a rate limiter mounted before the
 * router: `skip: isInternalHop` counts each client request once, on the worker that received it.
 */
export const isInternalHop = (req: IncomingMessage): boolean => claimsInternal(req);
