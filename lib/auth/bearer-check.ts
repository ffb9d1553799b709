/**
 * Bearer-token checking on the worker that receives a request, with the SDK's `requireBearerAuth`
 * (401 with `WWW-Authenticate: Bearer resource_metadata="…"`, 403 `insufficient_scope`), one per
 * endpoint so that each names its own Protected Resource Metadata.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';
import type { RequestHandler } from 'express';
import { requestState } from '../http/request-state.js';
import type { AuthConfig } from './auth-config.js';

/** `/mcp` or `/servers/<id>/mcp`: the endpoint a request path ends in. */
const ENDPOINT = /\/(?:servers\/([^/?]+)\/)?mcp\/?(?=\?|$)/i;

/** The endpoint path of a request: `/mcp`, or `/servers/<id>/mcp` with the id as the client sent it. */
export function endpointOf(url: string): string {
  const match = ENDPOINT.exec(url);
  return match?.[1] === undefined ? '/mcp' : `/servers/${match[1]}/mcp`;
}

/** The resource identifier of an endpoint, and where its metadata is. */
export function resourceOf(config: AuthConfig, endpoint: string): { resource: string; metadataUrl: string } {
  const resource = `${config.publicUrl}${endpoint}`;
  return { resource, metadataUrl: getOAuthProtectedResourceMetadataUrl(new URL(resource)) };
}

/** Bounded: endpoint paths come from clients. */
const MAX_CACHED = 1024;

export type BearerCheck = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

export function createBearerCheck(config: AuthConfig): BearerCheck {
  const checks = new Map<string, RequestHandler>();
  const checkFor = (endpoint: string): RequestHandler => {
    let check = checks.get(endpoint);
    if (!check) {
      if (checks.size >= MAX_CACHED) checks.clear();
      check = requireBearerAuth({
        verifier: config.verifier,
        requiredScopes: [...config.requiredScopes],
        resourceMetadataUrl: resourceOf(config, endpoint).metadataUrl,
      });
      checks.set(endpoint, check);
    }
    return check;
  };
  return (req, res, next) => {
    const state = requestState(req);
    // Once per request: `authenticate` before the user's middlewares, then the router.
    if (state.authenticated) return next();
    const check = checkFor(endpointOf((req as { originalUrl?: string }).originalUrl ?? req.url ?? '/'));
    void check(req as never, expressLike(res) as never, () => {
      state.authenticated = true;
      next();
    });
  };
}

/**
 * `requireBearerAuth` answers through Express's `res.set/status/json`; before Express (`front()`)
 * the response is Node's own, so it gets a view with those three (never written onto it, where
 * they would shadow Express's later).
 */
function expressLike(res: ServerResponse): object {
  if (typeof (res as { status?: unknown }).status === 'function') return res;
  const view = Object.create(res) as Record<string, unknown>;
  view.set = (name: string, value: string) => (res.setHeader(name, value), view);
  view.status = (code: number) => ((res.statusCode = code), view);
  view.json = (body: unknown) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  };
  return view;
}
