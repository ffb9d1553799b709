/**
 * The one MCP implementation: every method a virtual server answers, over the catalog and through
 * the request's scope. Pure of transport: the 2025 session path (the SDK's `Server`) and the
 * 2026-07-28 sessionless path both call `core.call()`, and each builds the handler context of its
 * era. Errors are thrown as the SDK's `McpError`.
 */
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { CompleteRequest } from '@modelcontextprotocol/sdk/types.js';
import type { AuthorizePolicy, Catalog, HandlerContext, Logger, McpScope, Scoped, ToolDefinition } from '../types.js';
import { authorizedView, type ItemKind, permits } from './authorized-view.js';
import { complete } from './completion.js';
import { listPrompts, listResources, listResourceTemplates, listTools } from './list-results.js';
import { getPrompt } from './prompts.js';
import { readResource, resourceExists, resourceNotFound } from './resources.js';
import { callTool } from './tools.js';

/** What one request gives the core: its scope, and how to build a handler's context. */
export interface CoreRequest {
  readonly scope: McpScope;
  /** Who asks (for `authorize`); `undefined` without authentication. */
  readonly auth: AuthInfo | undefined;
  readonly context: (serverId: string) => HandlerContext;
}

type Params = Record<string, unknown>;
type MethodHandler = (catalog: Catalog, params: Params, request: CoreRequest) => object | Promise<object>;

/** The methods every era answers the same way (params already checked by `parseParams`). */
export const CORE_METHODS = [
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/read',
  'resources/templates/list',
  'prompts/list',
  'prompts/get',
  'completion/complete',
] as const;
export type CoreMethod = (typeof CORE_METHODS)[number];

/** The kinds of item each method reads. */
const KINDS: Record<CoreMethod, readonly ItemKind[]> = {
  ping: [],
  'tools/list': ['tool'],
  'tools/call': ['tool'],
  'resources/list': ['resource'],
  'resources/read': ['resource', 'resourceTemplate'],
  'resources/templates/list': ['resourceTemplate'],
  'prompts/list': ['prompt'],
  'prompts/get': ['prompt'],
  'completion/complete': ['prompt', 'resource', 'resourceTemplate'],
};

export interface McpCore {
  readonly catalog: Catalog;
  /** Answers one request of a core method. Rejects with an `McpError`. */
  call(method: CoreMethod, params: Params, request: CoreRequest): Promise<object>;
  /** Whether the method is one of `CORE_METHODS`. */
  serves(method: string): method is CoreMethod;
  /** Whether `uri` is a resource of the scope that `auth` may see (for `resources/subscribe`). */
  resourceExists(scope: McpScope, uri: string, auth: AuthInfo | undefined): Promise<boolean>;
  /** Of `uris`, the resources of the scope `auth` may see (one authorized view for all). */
  visibleResources(scope: McpScope, uris: readonly string[], auth: AuthInfo | undefined): Promise<string[]>;
  /** The scope's tool of that name, when `auth` may see it (for the era's header checks). */
  visibleTool(scope: McpScope, name: string, auth: AuthInfo | undefined): Promise<Scoped<ToolDefinition> | undefined>;
  /** Whether `auth` may use the scope's virtual server (`authorize` with `kind: 'server'`). */
  permitsServer(scope: McpScope, auth: AuthInfo | undefined): Promise<boolean>;
}

export function createMcpCore(catalog: Catalog, logger: Logger, authorize?: AuthorizePolicy): McpCore {
  const methods: Record<CoreMethod, MethodHandler> = {
    ping: () => ({}),
    'tools/list': (c, _p, r) => listTools(c, r.scope),
    'tools/call': (c, p, r) => callTool(c, r.scope, p as { name: string; arguments?: Params }, r.context, logger),
    'resources/list': (c, _p, r) => listResources(c, r.scope),
    'resources/read': (c, p, r) => readResource(c, r.scope, String(p.uri), r.context),
    'resources/templates/list': (c, _p, r) => listResourceTemplates(c, r.scope),
    'prompts/list': (c, _p, r) => listPrompts(c, r.scope),
    'prompts/get': (c, p, r) => getPrompt(c, r.scope, p as { name: string; arguments?: Record<string, string> }, r.context),
    'completion/complete': (c, p, r) => complete(c, r.scope, p as CompleteRequest['params']),
  };
  const names = new Set<string>(CORE_METHODS);
  /** A hidden resource stays hidden even when a visible template's pattern matches its URI. */
  const visible = async (scope: McpScope, uris: readonly string[], auth: AuthInfo | undefined): Promise<string[]> => {
    if (!authorize || !auth) return uris.filter((uri) => resourceExists(catalog, scope, uri));
    const seen = await authorizedView(catalog, scope, ['resource', 'resourceTemplate'], authorize, auth);
    const hidden = new Set(catalog.listResources(scope).map((r) => r.uri));
    for (const r of seen.listResources(scope)) hidden.delete(r.uri);
    return uris.filter((uri) => !hidden.has(uri) && resourceExists(seen, scope, uri));
  };
  return {
    catalog,
    call: async (method, params, request) => {
      if (
        method === 'resources/read' &&
        authorize &&
        request.auth &&
        (await visible(request.scope, [String(params.uri)], request.auth)).length === 0
      ) {
        throw resourceNotFound(String(params.uri));
      }
      // Without a policy (or without authentication) the catalog itself: no cost on the hot path.
      const seen =
        authorize && request.auth ? await authorizedView(catalog, request.scope, KINDS[method], authorize, request.auth) : catalog;
      return methods[method](seen, params, request);
    },
    serves: (method): method is CoreMethod => names.has(method),
    resourceExists: async (scope, uri, auth) => (await visible(scope, [uri], auth)).length === 1,
    visibleResources: (scope, uris, auth) => visible(scope, uris, auth),
    visibleTool: async (scope, name, auth) => {
      const seen = authorize && auth ? await authorizedView(catalog, scope, ['tool'], authorize, auth) : catalog;
      return seen.listTools(scope).find((t) => t.name === name);
    },
    permitsServer: async (scope, auth) => {
      if (!authorize || !auth || scope.kind !== 'server') return true;
      return permits(authorize, auth).server(scope.serverId);
    },
  };
}
