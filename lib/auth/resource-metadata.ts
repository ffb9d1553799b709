/**
 * Protected Resource Metadata (RFC 9728) for `/mcp` and each virtual server's endpoint, at
 * `/.well-known/oauth-protected-resource/mcp` and `…/servers/<id>/mcp`, served with the SDK's
 * `metadataHandler`.
 */
import { metadataHandler } from '@modelcontextprotocol/sdk/server/auth/handlers/metadata.js';
import express, { type Router } from 'express';
import type { Catalog } from '../types.js';
import type { AuthConfig } from './auth-config.js';
import { resourceOf } from './bearer-check.js';

export function resourceMetadataRouter(config: AuthConfig, catalog: Catalog): Router {
  const router = express.Router();
  const handlers = new Map<string, express.RequestHandler>();
  const handlerFor = (endpoint: string): express.RequestHandler => {
    let handler = handlers.get(endpoint);
    if (!handler) {
      handler = metadataHandler({
        resource: resourceOf(config, endpoint).resource,
        authorization_servers: [...config.authorizationServers],
        bearer_methods_supported: ['header'],
        ...(config.scopesSupported.length > 0 ? { scopes_supported: [...config.scopesSupported] } : {}),
      });
      handlers.set(endpoint, handler);
    }
    return handler;
  };
  router.use('/.well-known/oauth-protected-resource/mcp', (req, res, next) => handlerFor('/mcp')(req, res, next));
  router.use('/.well-known/oauth-protected-resource/servers/:serverId/mcp', (req, res, next) => {
    const serverId = String(req.params.serverId);
    // Only the virtual servers that exist have metadata; the rest fall through to the 404.
    if (!catalog.hasServer(serverId)) return next();
    handlerFor(`/servers/${serverId}/mcp`)(req, res, next);
  });
  return router;
}
