/** Which headers cross a hop: the message's own, never those describing one connection. */
import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PRINCIPAL_HEADER } from '../auth/principal.js';
import { INTERNAL_HEADER } from '../http/request-state.js';
import { SIGNATURE_HEADER } from './hop-signature.js';

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
  // Only the forwarder sets it, from the principal it verified; never a client's.
  PRINCIPAL_HEADER,
]);

/**
 * The headers the owner gets. Headers a client names in `Connection` cross too: the owner must
 * see what the receiving worker saw, so that a request is answered the same, local or forwarded
 * (dropped, `Connection: mcp-session-id` would lose the session, `content-type` the body's type).
 */
export function copyRequestHeaders(req: IncomingMessage): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    headers[name] = value;
  }
  return headers;
}

export function copyResponseHeaders(from: IncomingMessage, to: ServerResponse): void {
  for (const [name, value] of Object.entries(from.headers)) {
    if (value === undefined || (HOP_BY_HOP.has(name) && name !== 'content-length') || name === RECEIVED_BY_HEADER) continue;
    to.setHeader(name, value);
  }
}
