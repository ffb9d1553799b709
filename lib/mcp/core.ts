/**
 * The one MCP implementation: every method a virtual server answers, over the catalog and through
 * the request's scope. Pure of transport: the 2025 session path (the SDK's `Server`) and the
 * 2026-07-28 sessionless path both call `core.call()`, and each builds the handler context of its
 * era. Errors are thrown as the SDK's `McpError`.
 */
import type { CompleteRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Catalog, HandlerContext, Logger, McpScope } from '../types.js';
import { complete } from './completion.js';
import { listPrompts, listResources, listResourceTemplates, listTools } from './list-results.js';
import { getPrompt } from './prompts.js';
import { readResource, resourceExists } from './resources.js';
import { callTool } from './tools.js';

/** What one request gives the core: its scope, and how to build a handler's context. */
export interface CoreRequest {
  readonly scope: McpScope;
  readonly context: (serverId: string) => HandlerContext;
}

type Params = Record<string, unknown>;
type MethodHandler = (params: Params, request: CoreRequest) => object | Promise<object>;

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

export interface McpCore {
  readonly catalog: Catalog;
  /** Answers one request of a core method. Rejects with an `McpError`. */
  call(method: CoreMethod, params: Params, request: CoreRequest): Promise<object>;
  /** Whether the method is one of `CORE_METHODS`. */
  serves(method: string): method is CoreMethod;
  /** Whether `uri` is a resource of the scope (for `resources/subscribe`). */
  resourceExists(scope: McpScope, uri: string): boolean;
}

export function createMcpCore(catalog: Catalog, logger: Logger): McpCore {
  const methods: Record<CoreMethod, MethodHandler> = {
    ping: () => ({}),
    'tools/list': (_p, r) => listTools(catalog, r.scope),
    'tools/call': (p, r) => callTool(catalog, r.scope, p as { name: string; arguments?: Params }, r.context, logger),
    'resources/list': (_p, r) => listResources(catalog, r.scope),
    'resources/read': (p, r) => readResource(catalog, r.scope, String(p.uri), r.context),
    'resources/templates/list': (_p, r) => listResourceTemplates(catalog, r.scope),
    'prompts/list': (_p, r) => listPrompts(catalog, r.scope),
    'prompts/get': (p, r) => getPrompt(catalog, r.scope, p as { name: string; arguments?: Record<string, string> }, r.context),
    'completion/complete': (p, r) => complete(catalog, r.scope, p as CompleteRequest['params']),
  };
  const names = new Set<string>(CORE_METHODS);
  return {
    catalog,
    call: async (method, params, request) => methods[method](params, request),
    serves: (method): method is CoreMethod => names.has(method),
    resourceExists: (scope, uri) => resourceExists(catalog, scope, uri),
  };
}
