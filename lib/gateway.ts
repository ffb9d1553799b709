/**
 * `mcpAffinity`: the four middlewares, mounted in the only correct order, on an Express router
 * for `/mcp` and `/servers/:serverId/mcp`.
 */
import type { RequestListener } from 'node:http';
import express, { type ErrorRequestHandler, type RequestHandler, type Router } from 'express';
import { resourceMetadataRouter } from './auth/resource-metadata.js';
import { ErrorCodes, JsonRpcCodes } from './errors.js';
import { claimsInternal } from './http/request-state.js';
import { httpRpcError, sendRpcError } from './http/rpc-error.js';
import { internalForwardGuard } from './middleware/internal-forward-guard.js';
import { rpcDispatch } from './middleware/rpc-dispatch.js';
import { serverScope, unknownServer } from './middleware/server-scope.js';
import { sessionAffinity } from './middleware/session-affinity.js';
import { MCP_AFFINITY_OPTION_NAMES } from './options/option-names.js';
import { checkOptionsObject } from './options/validations.js';
import type { McpAffinityOptions, WorkerRecord } from './types.js';
import { AffinityWorker } from './worker.js';

/** The router `mcpAffinity()` returns, with the worker it runs in. */
export interface McpAffinityRouter extends Router {
  /** This process's identity, store and owned sessions. */
  readonly worker: AffinityWorker;
  /**
   * Starts this worker's internal listener and registers the worker; await it before taking
   * traffic. With `app`, forwarded requests run your whole app again on the owner (middlewares
   * before the router included); without, they run this router alone (the four middlewares),
   * which is cheaper: the receiving worker already ran what comes before.
   */
  listen(app?: RequestListener): Promise<WorkerRecord>;
  /** Ends this worker's sessions, deregisters it and closes its listener, sockets and timers. */
  close(): Promise<void>;
  /** Graceful shutdown: see `AffinityWorker.drain()`. */
  drain(periodMs?: number): Promise<void>;
  /**
   * A request listener for your public server that runs `sessionAffinity` before Express, so a
   * request for a session owned elsewhere is forwarded without going through your app first:
   * `http.createServer(mcp.front(app)).listen(3000)`. Everything else goes to `app` unchanged.
   * Use it when the router is mounted at the root (`app.use(mcp)`).
   */
  front(app: RequestListener): RequestListener;
  /**
   * With `auth`: verifies the bearer token now (401/403 as the router would) and sets `req.auth`,
   * for middlewares of yours that need the principal before the router (a rate limiter keyed by
   * it). The router does not verify again; a hop is let through (the guard judges it).
   */
  readonly authenticate: RequestHandler;
}

/** The paths `front()` routes itself: `/mcp` and `/servers/<id>/mcp`, any letter case, any query. */
const FRONT_PATH = /^\/(?:servers\/[^/?]+\/)?mcp\/?(?:\?|$)/i;

/** The MCP endpoint at the end of a path, after whatever prefix the router was mounted under. */
const MCP_SUFFIX = /\/(?:servers\/[^/?]+\/)?mcp\/?(?=\?|$)/i;

/**
 * The internal listener's app when `listen()` gets none: the router alone. A hop keeps the path
 * the client used, prefix included (`app.use('/gateway', mcp)`), and is signed over it; the router
 * is matched on the part after the prefix.
 */
function hopsOnly(router: Router): RequestListener {
  const app = express();
  app.use(function stripMountPrefix(req, _res, next) {
    const match = MCP_SUFFIX.exec(req.url);
    if (match && match.index > 0) req.url = req.url.slice(match.index);
    next();
  });
  app.use(router);
  return app;
}

const SERVERS_SHAPED = /\/servers(?:\/|%2f).*mcp/i;
// `mcp` as a path segment, its slashes plain or encoded (`/%2Fmcp` is `//mcp` too).
const MCP_SHAPED = /(?:^|\/|%2f)mcp(?:$|[/.;?]|%2f)/i;
const noSuchEndpoint = () =>
  httpRpcError(404, JsonRpcCodes.INVALID_REQUEST, ErrorCodes.NOT_FOUND, 'Not found: no MCP endpoint at this path');

/** The endpoints the router serves. */
export const MCP_PATHS = ['/mcp', '/servers/:serverId/mcp'];

export function mcpAffinity(options: McpAffinityOptions): McpAffinityRouter {
  checkOptionsObject('mcpAffinity', options, MCP_AFFINITY_OPTION_NAMES);
  const { catalog, bodyLimit, bodyTimeoutMs, serverIdPattern, serverInfo, instructions, jsonResponse, eventStore, ...workerOptions } =
    options;
  const worker = new AffinityWorker(workerOptions);
  let chain: RequestHandler[];
  try {
    // serverScope comes after the affinity branch: a request served here and a request forwarded
    // here by a peer both pass through it, so no path can skip the scoping step.
    chain = [
      sessionAffinity({ worker, bodyLimit, bodyTimeoutMs }),
      internalForwardGuard({ worker, bodyLimit, bodyTimeoutMs }),
      serverScope({ catalog, serverIdPattern, bodyLimit, bodyTimeoutMs }),
      rpcDispatch({ worker, catalog, serverInfo, instructions, jsonResponse, eventStore }),
    ];
  } catch (error) {
    // A wrong option must not leave the worker's timers and listeners behind.
    void worker.close();
    throw error;
  }
  const router = express.Router() as McpAffinityRouter;
  // Where clients learn which authorization server to ask for a token (RFC 9728).
  if (worker.config.auth) router.use(resourceMetadataRouter(worker.config.auth, catalog));
  router.all(MCP_PATHS, ...chain);
  // `/servers//mcp`, `/servers/a/b/mcp`, `/servers/mcp`: never fall through to anything unscoped.
  router.all(/^\/servers\/(?:.*\/)?mcp\/?$/i, function unknownServerPath(_req, res) {
    sendRpcError(res, unknownServer());
  });
  // Shaped like an MCP endpoint without being one (`/servers/alpha/mcp//`, `/servers/alpha%2fmcp`,
  // `/mcp.json`, `/x/../mcp`): a JSON-RPC 404, never Express's HTML page.
  // The path alone: a query may well carry an encoded MCP URL (`/authorize?resource=…%2Fmcp`).
  router.use(function mcpShapedPath(req, res, next) {
    const path = req.url.split('?', 1)[0]!;
    if (SERVERS_SHAPED.test(path)) return sendRpcError(res, unknownServer());
    if (MCP_SHAPED.test(path)) return sendRpcError(res, noSuchEndpoint());
    next();
  });
  const errorHandler: ErrorRequestHandler = function mcpAffinityErrorHandler(error, req, res, next) {
    if (res.headersSent) return next(error);
    const status = (error as { status?: unknown } | null)?.status;
    // Express could not decode a path parameter (`/servers/%E0%A4%A/mcp`): no such server.
    if ((error instanceof URIError || status === 400) && /^\/servers\//i.test(req.path)) return sendRpcError(res, unknownServer());
    worker.logger.error(`[express-mcp-affinity] unhandled error: ${String(error)}`);
    sendRpcError(res, httpRpcError(500, JsonRpcCodes.INTERNAL_ERROR, ErrorCodes.INTERNAL, 'Internal error'));
  };
  router.use(errorHandler);

  Object.defineProperties(router, {
    worker: { value: worker, enumerable: true },
    // Without an app, the internal listener serves this router alone: hops skip the middlewares
    // mounted before it, which already ran on the worker that received the request.
    listen: { value: (app?: RequestListener) => worker.listen(app ?? hopsOnly(router)) },
    close: { value: () => worker.close() },
    authenticate: {
      value: function mcpAffinityAuthenticate(req, res, next) {
        if (!worker.bearerCheck || claimsInternal(req)) return next();
        worker.bearerCheck(req, res, () => next());
      } satisfies RequestHandler,
    },
    drain: { value: (periodMs?: number) => worker.drain(periodMs) },
    front: {
      value: (app: RequestListener): RequestListener => {
        const [affinity] = chain as [RequestHandler];
        return function mcpAffinityFront(req, res) {
          if (!FRONT_PATH.test(req.url ?? '')) return app(req, res);
          affinity(req as Parameters<RequestHandler>[0], res as Parameters<RequestHandler>[1], () => app(req, res));
        };
      },
    },
  });
  return router;
}
