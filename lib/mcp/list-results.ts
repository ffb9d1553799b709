/**
 * The results of the list methods, built from the catalog through a scope, for the core (both
 * eras).
 */
import type {
  ListPromptsResult,
  ListResourcesResult,
  ListResourceTemplatesResult,
  ListToolsResult,
} from '@modelcontextprotocol/sdk/types.js';
import type { Catalog, McpScope } from '../types.js';

/** Copies the listed fields that are set, leaving out the ones that are not (no `undefined` in JSON). */
function pick<T extends object, K extends keyof T>(item: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const key of keys) if (item[key] !== undefined) out[key] = item[key];
  return out;
}

export function listTools(catalog: Catalog, scope: McpScope): ListToolsResult {
  return {
    tools: catalog.listTools(scope).map((tool) => ({
      ...pick(tool, ['name', 'title', 'description', 'annotations'] as const),
      inputSchema: tool.inputSchema as ListToolsResult['tools'][number]['inputSchema'],
    })),
  };
}

export function listResources(catalog: Catalog, scope: McpScope): ListResourcesResult {
  return { resources: catalog.listResources(scope).map((r) => pick(r, ['uri', 'name', 'title', 'description', 'mimeType'] as const)) };
}

export function listResourceTemplates(catalog: Catalog, scope: McpScope): ListResourceTemplatesResult {
  return {
    resourceTemplates: catalog
      .listResourceTemplates(scope)
      .map((t) => pick(t, ['uriTemplate', 'name', 'title', 'description', 'mimeType'] as const)),
  };
}

export function listPrompts(catalog: Catalog, scope: McpScope): ListPromptsResult {
  return {
    prompts: catalog.listPrompts(scope).map((p) => ({
      ...pick(p, ['name', 'title', 'description'] as const),
      ...(p.arguments === undefined ? {} : { arguments: [...p.arguments] }),
    })),
  };
}
