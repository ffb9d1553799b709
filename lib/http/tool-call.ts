/**
 * The tool a request calls, for a per-tool rate limit mounted before the router: `Mcp-Name` in a
 * 2026-07-28 request (base64-decoded when encoded), the body's `params.name` in a 2025 one (the
 * body read once and shared with the router). `undefined` for anything else, a batch, or a body
 * that cannot be read or parsed (the router answers those).
 */
import type { IncomingMessage } from 'node:http';
import { decodeHeaderValue } from '../mcp/header-values.js';
import { isSessionless } from '../mcp/sessionless.js';
import { DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT_MS, readRawBody } from './body.js';
import { singleHeader } from './request-state.js';

export async function toolCallOf(req: IncomingMessage, limits: { bodyLimit?: number } = {}): Promise<string | undefined> {
  if (req.method !== 'POST') return undefined;
  if (isSessionless(req)) {
    return singleHeader(req, 'mcp-method') === 'tools/call' ? decodeHeaderValue(singleHeader(req, 'mcp-name')) : undefined;
  }
  try {
    // The router's own limit should be given here too: the first reader's applies.
    const body = await readRawBody(req, { bodyLimit: limits.bodyLimit ?? DEFAULT_BODY_LIMIT, bodyTimeoutMs: DEFAULT_BODY_TIMEOUT_MS });
    const message = JSON.parse(body.toString('utf8')) as { method?: unknown; params?: { name?: unknown } } | null;
    return message?.method === 'tools/call' && typeof message.params?.name === 'string' ? message.params.name : undefined;
  } catch {
    return undefined;
  }
}
