/**
 * The 2026-07-28 era's adapter. That protocol is sessionless: no initialize, no session id; the
 * version and client information travel in each request's `params._meta`, and `Mcp-Method` /
 * `Mcp-Name` repeat what the body says so that intermediaries can route without reading it. Such
 * a request is served by the worker that receives it (never forwarded) through the scope of its
 * path, by the same core as a session's requests. What differs from the 2025 era is named here:
 * the header checks, `server/discover`, `resultType` on every result, and no channel back to the
 * client.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { McpError, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { authOf, principalOf } from '../auth/principal.js';
import { ErrorCodes, JsonRpcCodes } from '../errors.js';
import { singleHeader } from '../http/request-state.js';
import { type HttpRpcError, httpRpcError, sendRpcError } from '../http/rpc-error.js';
import { scopeKey } from '../server-id.js';
import type { McpScope } from '../types.js';
import { SESSIONLESS_CAPABILITIES } from './capabilities.js';
import type { McpCore } from './core.js';
import { createHandlerContext } from './handler-context.js';
import { decodeHeaderValue } from './header-values.js';
import { InputRequired, InvalidRequestState } from './input-required.js';
import { idOf, invalidParams } from './message-checks.js';
import { paramHeaderMismatch } from './param-headers.js';
import { parseParams } from './request-schemas.js';
import { ROUND_TRIP_METHODS, roundTripChannel } from './round-trip-channel.js';
import { type ListenHub, parseListened } from './subscriptions.js';

export const SESSIONLESS_VERSION = '2026-07-28';

export const isSessionless = (req: IncomingMessage): boolean => singleHeader(req, 'mcp-protocol-version') === SESSIONLESS_VERSION;

export interface SessionlessDeps {
  readonly core: McpCore;
  readonly workerId: string;
  readonly serverInfo: { name: string; version: string; title?: string };
  readonly instructions: string | undefined;
  /** Whether lists differ per principal (an `authorize` policy): results are then `private`. */
  readonly perPrincipal: boolean;
  /** The gateway's secrets now (the first seals a multi round-trip request's state). */
  secrets(): readonly string[];
  /** The `subscriptions/listen` streams held by this worker. */
  readonly listens: ListenHub;
  /** Ends a listen stream wherever it is held (through the store's events). */
  cancelListen(subscriptionId: string | number, principal: string | undefined, endpoint: string): void;
}

type Message = { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };

const refusal = (status: number, rpcCode: number, code: HttpRpcError['code'], message: string, id: string | number | null = null) =>
  httpRpcError(status, rpcCode, code, message, { id });

/** Methods of the session era that 2026-07-28 removed: unknown there (404, -32601). */
const REMOVED_METHODS = new Set(['ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe']);

/** The name a method's `Mcp-Name` header must repeat, from the body. */
function namedInBody(method: string, params: Record<string, unknown>): unknown {
  if (method === 'tools/call' || method === 'prompts/get') return params.name;
  return method === 'resources/read' ? params.uri : undefined;
}

/** Everything refused before a method runs; `undefined` when the request may be served. */
function check(req: IncomingMessage, messages: unknown): HttpRpcError | undefined {
  if (req.method !== 'POST') {
    return httpRpcError(
      405,
      JsonRpcCodes.SERVER_ERROR,
      ErrorCodes.METHOD_NOT_ALLOWED,
      `Method not allowed: protocol ${SESSIONLESS_VERSION} has no GET stream and no DELETE`,
      { headers: { allow: 'POST' } },
    );
  }
  if (typeof messages !== 'object' || messages === null || Array.isArray(messages)) {
    return refusal(400, JsonRpcCodes.INVALID_REQUEST, ErrorCodes.INVALID_REQUEST, 'Invalid Request: one JSON-RPC message per request');
  }
  const message = messages as Message;
  const id = idOf(message);
  if (message.jsonrpc !== '2.0' || typeof message.method !== 'string') {
    return refusal(400, JsonRpcCodes.INVALID_REQUEST, ErrorCodes.INVALID_REQUEST, 'Invalid Request: not a JSON-RPC 2.0 message', id);
  }
  const params = (typeof message.params === 'object' && message.params !== null ? message.params : {}) as Record<string, unknown>;
  if (singleHeader(req, 'mcp-method') !== message.method) {
    return refusal(400, JsonRpcCodes.HEADER_MISMATCH, ErrorCodes.INVALID_REQUEST, 'Bad Request: Mcp-Method does not match the body', id);
  }
  const named = namedInBody(message.method, params);
  if (named !== undefined && decodeHeaderValue(singleHeader(req, 'mcp-name')) !== named) {
    return refusal(400, JsonRpcCodes.HEADER_MISMATCH, ErrorCodes.INVALID_REQUEST, 'Bad Request: Mcp-Name does not match the body', id);
  }
  return undefined;
}

function metaRefusal(params: Record<string, unknown>, id: string | number | null): HttpRpcError | undefined {
  const meta = params._meta as Record<string, unknown> | undefined;
  if (typeof meta === 'object' && meta !== null && meta['io.modelcontextprotocol/protocolVersion'] === SESSIONLESS_VERSION)
    return undefined;
  return refusal(
    400,
    JsonRpcCodes.INVALID_PARAMS,
    ErrorCodes.INVALID_PARAMS,
    `Invalid params: _meta must carry io.modelcontextprotocol/protocolVersion ${SESSIONLESS_VERSION}`,
    id,
  );
}

function sendJson(res: ServerResponse, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Answers one 2026-07-28 request. */
export async function serveSessionless(
  req: IncomingMessage,
  res: ServerResponse,
  scope: McpScope,
  messages: unknown,
  deps: SessionlessDeps,
): Promise<void> {
  const refused = check(req, messages);
  if (refused) return sendRpcError(res, refused);
  const message = messages as { id?: unknown; method: string; params?: unknown };
  const id = idOf(message);
  if (id === null) {
    // A notification: nothing to answer. A cancelled listen stream ends, on whichever worker holds it.
    const requestId = (message.params as { requestId?: unknown } | undefined)?.requestId;
    if (message.method === 'notifications/cancelled' && (typeof requestId === 'string' || typeof requestId === 'number')) {
      deps.cancelListen(requestId, principalOf(authOf(req)), scopeKey(scope));
    }
    res.statusCode = 202;
    res.end();
    return;
  }
  const rawParams = (typeof message.params === 'object' && message.params !== null ? message.params : {}) as Record<string, unknown>;
  const noMeta = metaRefusal(rawParams, id);
  if (noMeta) return sendRpcError(res, noMeta);
  if (message.method === 'subscriptions/listen') return listen(req, res, scope, id, rawParams, deps);
  if (REMOVED_METHODS.has(message.method) || (message.method !== 'server/discover' && !deps.core.serves(message.method))) {
    return sendRpcError(
      res,
      refusal(404, JsonRpcCodes.METHOD_NOT_FOUND, ErrorCodes.INVALID_REQUEST, `Method not found: ${message.method}`, id),
    );
  }
  const parsed = parseParams(message);
  if (!parsed.ok) return sendRpcError(res, invalidParams(message.method, id));
  if (message.method === 'tools/call') {
    const { name, arguments: args = {} } = parsed.params as { name: string; arguments?: Record<string, unknown> };
    // A tool hidden from the principal is not checked: it is answered as unknown, like any other.
    const tool = await deps.core.visibleTool(scope, name, authOf(req));
    const mismatch = tool && paramHeaderMismatch(req, tool, args);
    if (mismatch) {
      return sendRpcError(
        res,
        refusal(400, JsonRpcCodes.HEADER_MISMATCH, ErrorCodes.INVALID_REQUEST, `Bad Request: ${mismatch} does not match the body`, id),
      );
    }
  }
  try {
    sendJson(res, { jsonrpc: '2.0', id, result: await answer(req, res, scope, message.method, parsed.params, rawParams, deps) });
  } catch (error) {
    if (error instanceof InputRequired) {
      // Not cacheable: no hints. The retry may land on any worker.
      const result = { resultType: 'input_required', inputRequests: { [error.key]: error.request }, requestState: error.state };
      return sendJson(res, { jsonrpc: '2.0', id, result });
    }
    if (error instanceof InvalidRequestState) {
      return sendJson(res, {
        jsonrpc: '2.0',
        id,
        error: { code: JsonRpcCodes.INVALID_PARAMS, message: `Invalid params: ${error.message}` },
      });
    }
    // As the SDK answers a handler that throws in a session: its code when it has one, else -32603.
    const code = error instanceof McpError ? sessionlessCode(error.code) : JsonRpcCodes.INTERNAL_ERROR;
    // The SDK's McpError prefixes its message with "MCP error <code>: "; the code travels on its own.
    const text = error instanceof Error ? error.message.replace(/^MCP error -?\d+: /, '') : 'Internal error';
    if (res.headersSent) return void res.end();
    sendJson(res, { jsonrpc: '2.0', id, error: { code, message: text } });
  }
}

/** `subscriptions/listen`: the stream stays open, held by this worker, until cancelled or closed. */
async function listen(
  req: IncomingMessage,
  res: ServerResponse,
  scope: McpScope,
  id: string | number,
  params: Record<string, unknown>,
  deps: SessionlessDeps,
): Promise<void> {
  const asked = parseListened(params);
  if (!asked) return sendRpcError(res, invalidParams('subscriptions/listen', id));
  await deps.listens.open(res, id, scope, asked, authOf(req));
}

/** Error codes of this era: a resource that does not exist is -32602 here, -32002 before. */
const sessionlessCode = (code: number): number => (code === JsonRpcCodes.RESOURCE_NOT_FOUND ? JsonRpcCodes.INVALID_PARAMS : code);

/** Results of this era carry `resultType`, and the list methods say how long they may be cached. */
const CACHED_METHODS = new Set(['tools/list', 'resources/list', 'resources/templates/list', 'prompts/list', 'resources/read']);
/**
 * By default not cached, and private to the client: a gateway's lists change at run time (tools
 * added, upstreams coming and going). A virtual server may say otherwise (`cacheHints`), but
 * never `public` while an `authorize` policy makes lists differ per principal.
 */
const DEFAULT_HINTS = { ttlMs: 0, cacheScope: 'private' } as const;

function cacheHintsFor(scope: McpScope, deps: SessionlessDeps): { ttlMs: number; cacheScope: 'public' | 'private' } {
  const own = scope.kind === 'server' ? deps.core.catalog.cacheHints?.(scope.serverId) : undefined;
  const cacheScope = deps.perPrincipal ? 'private' : (own?.cacheScope ?? DEFAULT_HINTS.cacheScope);
  return { ttlMs: own?.ttlMs ?? DEFAULT_HINTS.ttlMs, cacheScope };
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  scope: McpScope,
  method: string,
  params: Record<string, unknown>,
  rawParams: Record<string, unknown>,
  deps: SessionlessDeps,
): Promise<object> {
  if (method === 'server/discover') {
    return {
      supportedVersions: [SESSIONLESS_VERSION, ...SUPPORTED_PROTOCOL_VERSIONS],
      capabilities: SESSIONLESS_CAPABILITIES,
      ...(deps.instructions === undefined ? {} : { instructions: deps.instructions }),
      resultType: 'complete',
      ...cacheHintsFor(scope, deps),
      _meta: { 'io.modelcontextprotocol/serverInfo': deps.serverInfo },
    };
  }
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort(new Error('the client disconnected'));
  });
  const meta = params._meta as { progressToken?: string | number } | undefined;
  const auth = authOf(req);
  const channel = ROUND_TRIP_METHODS.has(method) ? roundTripChannel(deps.secrets(), method, scope, rawParams, auth) : undefined;
  const result = await deps.core.call(method as Parameters<McpCore['call']>[0], params, {
    scope,
    auth,
    context: (serverId) =>
      createHandlerContext({
        serverId,
        scope,
        sessionId: undefined,
        workerId: deps.workerId,
        auth,
        signal: abort.signal,
        progressToken: meta?.progressToken,
        // No stream: a question becomes a multi round-trip request.
        channel,
        era: SESSIONLESS_VERSION,
        link: { session: undefined, traceparent: singleHeader(req, 'traceparent') },
      }),
  });
  return CACHED_METHODS.has(method)
    ? { ...result, resultType: 'complete', ...cacheHintsFor(scope, deps) }
    : { ...result, resultType: 'complete' };
}
