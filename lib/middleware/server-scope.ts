/**
 * `serverScope`: the path, and only the path, decides what a request may see.
 *
 * Mounted after `sessionAffinity`, it runs on every request a worker serves, whether the request
 * came from a client or was forwarded by a peer. On `/servers/:serverId/mcp` it checks the id
 * (pattern, then catalog), writes `params.server_id` into every JSON-RPC request of the body,
 * overwriting whatever the client sent, and records the scope for `rpcDispatch`. On `/mcp` it
 * removes any client-sent `params.server_id` and records the unscoped view.
 */
import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';
import { ErrorCodes, JsonRpcCodes } from '../errors.js';
import { type BodyLimits, readRawBody } from '../http/body.js';
import { requestState } from '../http/request-state.js';
import { type HttpRpcError, httpRpcError, isHttpRpcError, sendRpcError } from '../http/rpc-error.js';
import { SERVER_SCOPE_OPTION_NAMES } from '../options/option-names.js';
import { checkOptionsObject, invalidOption, requireObjectWith } from '../options/validations.js';
import { DEFAULT_SERVER_ID_PATTERN } from '../server-id.js';
import type { McpScope, ServerScopeOptions } from '../types.js';
import { resolveBodyLimits } from './session-affinity.js';

const OWNER = 'serverScope';

const UNSCOPED: McpScope = Object.freeze({ kind: 'all' });

export const unknownServer = (): HttpRpcError =>
  httpRpcError(404, JsonRpcCodes.INVALID_REQUEST, ErrorCodes.UNKNOWN_SERVER, 'Not found: no such virtual server');

function isJsonContentType(value: string | undefined): boolean {
  if (!value) return false;
  const type = value.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/** Rewrites `params.server_id` in place on every message that has a method (requests and notifications). */
function applyScope(message: unknown, scope: McpScope): void {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return;
  const m = message as Record<string, unknown>;
  if (typeof m.method !== 'string') return;
  if (scope.kind === 'server') {
    if (typeof m.params !== 'object' || m.params === null || Array.isArray(m.params)) {
      if (m.params === undefined || m.params === null) m.params = {};
      else return; // not a JSON-RPC request the SDK would accept; rpcDispatch rejects it with -32600
    }
    (m.params as Record<string, unknown>).server_id = scope.serverId;
  } else if (typeof m.params === 'object' && m.params !== null) {
    delete (m.params as Record<string, unknown>).server_id;
  }
}

/** Parses the body and applies the scope. Rejects with an `HttpRpcError`. */
export async function parseScopedBody(req: IncomingMessage, limits: BodyLimits, scope: McpScope): Promise<unknown> {
  if (!isJsonContentType(req.headers['content-type'])) {
    throw httpRpcError(
      415,
      JsonRpcCodes.INVALID_REQUEST,
      ErrorCodes.UNSUPPORTED_MEDIA_TYPE,
      'Unsupported Media Type: Content-Type must be application/json',
    );
  }
  const raw = await readRawBody(req, limits);
  let messages: unknown;
  try {
    messages = JSON.parse(raw.toString('utf8'));
  } catch {
    throw httpRpcError(400, JsonRpcCodes.PARSE_ERROR, ErrorCodes.PARSE_ERROR, 'Parse error: the body is not valid JSON');
  }
  if (Array.isArray(messages)) {
    if (messages.length === 0)
      throw httpRpcError(400, JsonRpcCodes.INVALID_REQUEST, ErrorCodes.INVALID_REQUEST, 'Invalid Request: empty batch');
    for (const message of messages) applyScope(message, scope);
  } else {
    applyScope(messages, scope);
  }
  return messages;
}

/** Whether `source` has a `|` outside any group or character class (`^a|b$` anchors each side only). */
function hasTopLevelAlternation(source: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return true;
  }
  return false;
}

export function serverScope(options: ServerScopeOptions): RequestHandler {
  checkOptionsObject(OWNER, options, SERVER_SCOPE_OPTION_NAMES);
  requireObjectWith(
    OWNER,
    'catalog',
    options.catalog,
    ['hasServer', 'listTools'],
    'pass the object returned by createCatalog(), or your own Catalog.',
  );
  const catalog = options.catalog;
  if (options.serverIdPattern !== undefined && !(options.serverIdPattern instanceof RegExp)) {
    throw invalidOption(
      OWNER,
      'serverIdPattern',
      options.serverIdPattern,
      'expected a RegExp anchored with ^ and $, such as /^[a-z0-9-]{1,32}$/.',
    );
  }
  const userPattern = options.serverIdPattern ?? DEFAULT_SERVER_ID_PATTERN;
  if (
    !userPattern.source.startsWith('^') ||
    !userPattern.source.endsWith('$') ||
    hasTopLevelAlternation(userPattern.source) ||
    userPattern.global ||
    userPattern.sticky
  ) {
    throw invalidOption(
      OWNER,
      'serverIdPattern',
      userPattern,
      'expected a RegExp anchored with ^ and $ around the whole expression (group alternatives: /^(?:a|b)$/, not /^a|b$/) and without the g or y flag, so that it matches the whole id.',
    );
  }
  // Anchored once more around the whole source, so no pattern can match part of an id.
  const pattern = new RegExp(`^(?:${userPattern.source})$`, userPattern.flags);
  const limits = resolveBodyLimits(OWNER, options);

  return function serverScopeMiddleware(req, res, next): void {
    const raw = (req.params as Record<string, string | undefined> | undefined)?.serverId;
    let scope: McpScope;
    if (raw === undefined) {
      scope = UNSCOPED;
    } else if (pattern.test(raw) && catalog.hasServer(raw)) {
      scope = Object.freeze({ kind: 'server', serverId: raw });
    } else {
      // Never fall through to the unscoped endpoint.
      return sendRpcError(res, unknownServer());
    }
    const state = requestState(req);
    state.scope = scope;
    if (req.method !== 'POST') return next();
    parseScopedBody(req, limits, scope).then(
      (messages) => {
        state.messages = messages;
        next();
      },
      (error: unknown) => {
        if (isHttpRpcError(error)) sendRpcError(res, error);
        else res.destroy();
      },
    );
  };
}
