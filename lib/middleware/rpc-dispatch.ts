/**
 * `rpcDispatch`: MCP over JSON-RPC 2.0, scoped to what `serverScope` decided. It wires the parts:
 * the one MCP core over the catalog, the session registry (2025 era, on the SDK's transport and
 * `Server`), the sessionless adapter (2026-07-28) and the change fan-out.
 */
import type { EventStore } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { RequestHandler } from 'express';
import { authOf } from '../auth/principal.js';
import { ErrorCodes, JsonRpcCodes } from '../errors.js';
import { SERVED_BY_HEADER } from '../hop/hop-headers.js';
import { claimsInternal, requestState } from '../http/request-state.js';
import { httpRpcError, sendRpcError } from '../http/rpc-error.js';
import { createMcpCore } from '../mcp/core.js';
import { isSessionless, type SessionlessDeps, serveSessionless } from '../mcp/sessionless.js';
import { ListenHub } from '../mcp/subscriptions.js';
import { RPC_DISPATCH_OPTION_NAMES } from '../options/option-names.js';
import { checkOptionsObject, invalidOption, requireObjectWith } from '../options/validations.js';
import { PACKAGE_VERSION } from '../package-version.js';
import { startChangeFanOut } from '../sessions/change-fanout.js';
import { resolveSession } from '../sessions/continuity.js';
import type { SessionFactory } from '../sessions/open-session.js';
import { serveSessionRequest } from '../sessions/serve-request.js';
import type { Catalog, RpcDispatchOptions } from '../types.js';
import { resolveWorkerOption } from '../worker.js';
import { unknownServer } from './server-scope.js';
import { atCapacity } from './session-affinity.js';

const OWNER = 'rpcDispatch';

interface DispatchConfig {
  readonly catalog: Catalog;
  readonly serverInfo: { name: string; version: string; title?: string };
  readonly instructions: string | undefined;
  readonly jsonResponse: boolean;
  readonly eventStore: EventStore | undefined;
}

function resolveDispatchConfig(options: RpcDispatchOptions): DispatchConfig {
  requireObjectWith(
    OWNER,
    'catalog',
    options.catalog,
    ['hasServer', 'listTools', 'listResources', 'listResourceTemplates', 'listPrompts'],
    'pass the object returned by createCatalog(), or your own Catalog.',
  );
  const info = options.serverInfo ?? { name: 'express-mcp-affinity', version: PACKAGE_VERSION };
  if (typeof info !== 'object' || info === null || typeof info.name !== 'string' || typeof info.version !== 'string') {
    throw invalidOption(
      OWNER,
      'serverInfo',
      info,
      "expected { name: string, version: string }, such as { name: 'my-gateway', version: '1.0.0' }.",
    );
  }
  if (options.instructions !== undefined && typeof options.instructions !== 'string') {
    throw invalidOption(OWNER, 'instructions', options.instructions, 'expected a string, or leave it unset.');
  }
  if (options.jsonResponse !== undefined && typeof options.jsonResponse !== 'boolean') {
    throw invalidOption(OWNER, 'jsonResponse', options.jsonResponse, 'expected true or false.');
  }
  if (options.eventStore !== undefined) {
    requireObjectWith(
      OWNER,
      'eventStore',
      options.eventStore,
      ['storeEvent', 'replayEventsAfter'],
      'pass a MemoryEventStore, a RedisEventStore, or any SDK EventStore.',
    );
  }
  return {
    catalog: options.catalog,
    serverInfo: { ...info },
    instructions: options.instructions,
    jsonResponse: options.jsonResponse ?? false,
    eventStore: options.eventStore,
  };
}

const internalError = () => httpRpcError(500, JsonRpcCodes.INTERNAL_ERROR, ErrorCodes.INTERNAL, 'Internal error');

export function rpcDispatch(options: RpcDispatchOptions): RequestHandler {
  checkOptionsObject(OWNER, options, RPC_DISPATCH_OPTION_NAMES);
  const worker = resolveWorkerOption(OWNER, options.worker);
  const config = resolveDispatchConfig(options);
  const { logger, workerId } = worker;
  const core = createMcpCore(config.catalog, logger, worker.config.auth?.authorize);
  const identity = { serverInfo: config.serverInfo, instructions: config.instructions, workerId };
  const factory: SessionFactory = {
    registry: worker.sessions,
    core,
    identity,
    jsonResponse: config.jsonResponse,
    eventStore: config.eventStore,
    resolve: async (sessionId, known) => {
      if (known?.workerId === workerId) return { kind: 'local', record: known };
      return resolveSession(worker, sessionId);
    },
  };
  const listens = new ListenHub({ core });
  const sessionless: SessionlessDeps = {
    core,
    workerId,
    serverInfo: config.serverInfo,
    instructions: config.instructions,
    perPrincipal: worker.config.auth?.authorize !== undefined,
    secrets: () => worker.secrets,
    listens,
    cancelListen: (subscriptionId, principal, endpoint) => {
      if (!worker.store.publish) return listens.cancel(subscriptionId, principal, endpoint);
      const event = {
        type: 'listen-cancelled' as const,
        subscriptionId,
        endpoint,
        origin: workerId,
        ...(principal === undefined ? {} : { principal }),
      };
      worker.store.publish(event).catch(() => listens.cancel(subscriptionId, principal, endpoint));
    },
  };
  worker.onClose(
    startChangeFanOut({
      workerId,
      catalog: config.catalog,
      store: worker.store,
      registry: worker.sessions,
      metrics: worker.metrics,
      logger,
      listens,
    }),
  );
  worker.onClose(() => listens.close());
  const isDraining = () => worker.isDraining;

  return function rpcDispatchMiddleware(req, res): void {
    const state = requestState(req);
    if (!state.scope) {
      logger.error(
        '[express-mcp-affinity] rpcDispatch ran without serverScope; mount serverScope before rpcDispatch (or use mcpAffinity(), which mounts both)',
      );
      return sendRpcError(
        res,
        httpRpcError(500, JsonRpcCodes.INTERNAL_ERROR, ErrorCodes.MISWIRED, 'Internal error: the gateway is misconfigured'),
      );
    }
    if (claimsInternal(req) && !state.verifiedHop) {
      logger.error('[express-mcp-affinity] rpcDispatch saw an unverified internal hop; mount internalForwardGuard before rpcDispatch');
      return sendRpcError(
        res,
        httpRpcError(403, JsonRpcCodes.SERVER_ERROR, ErrorCodes.HOP_REFUSED, 'Forbidden: not a valid internal request'),
      );
    }
    // Counted here, its body in (a hop was counted by the worker that received it).
    if (state.verifiedHop) {
      if (req.method !== 'GET') worker.admission.track(res);
    } else if (!worker.admit(req, res)) return sendRpcError(res, atCapacity());
    const failed = (error: unknown): void => {
      logger.error(`[express-mcp-affinity] dispatch failed: ${String(error)}`);
      if (!res.headersSent) sendRpcError(res, internalError());
      else res.end();
    };
    if (worker.exposeWorkerHeaders) res.setHeader(SERVED_BY_HEADER, workerId);
    // 2026-07-28: no session; served here, through the scope, whatever Mcp-Session-Id says.
    if (isSessionless(req)) {
      const scope = state.scope;
      // A virtual server the principal may not use does not exist for it (as at `initialize`).
      return void core
        .permitsServer(scope, authOf(req))
        .then((permitted) =>
          permitted ? serveSessionless(req, res, scope, state.messages, sessionless) : sendRpcError(res, unknownServer()),
        )
        .catch(failed);
    }
    if (req.method !== 'POST' && req.method !== 'GET' && req.method !== 'DELETE') {
      return sendRpcError(
        res,
        httpRpcError(405, JsonRpcCodes.SERVER_ERROR, ErrorCodes.METHOD_NOT_ALLOWED, 'Method not allowed', {
          headers: { allow: 'GET, POST, DELETE' },
        }),
      );
    }
    // Sessions are served (and created) here only by their owner: name it for a balancer that learns routes.
    if (worker.routeHeader) res.setHeader(worker.routeHeader, workerId);
    serveSessionRequest(factory, isDraining, req, res, state.scope, state.messages).catch(failed);
  };
}
