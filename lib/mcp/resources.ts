/** `resources/read` and the scope's resources, concrete or matched by a template. */
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import { McpError, type ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import { JsonRpcCodes } from '../errors.js';
import type { Catalog, HandlerContext, McpScope, ResourceTemplateDefinition, Scoped } from '../types.js';

/** Each template is parsed once, the first time a URI is matched against it. */
const parsedTemplates = new WeakMap<object, UriTemplate>();

export const resourceNotFound = (uri: string): McpError => new McpError(JsonRpcCodes.RESOURCE_NOT_FOUND, `Resource not found: ${uri}`);

/** The resource template of the scope whose pattern matches `uri`, with its variables. */
export function matchTemplate(
  catalog: Catalog,
  scope: McpScope,
  uri: string,
): { template: Scoped<ResourceTemplateDefinition>; variables: Record<string, string | string[]> } | undefined {
  for (const template of catalog.listResourceTemplates(scope)) {
    let parsed = parsedTemplates.get(template);
    if (!parsed) parsedTemplates.set(template, (parsed = new UriTemplate(template.uriTemplate)));
    const variables = parsed.match(uri);
    if (variables) return { template, variables };
  }
  return undefined;
}

/** Whether `uri` names a resource of the scope (a listed one or one a template matches). */
export function resourceExists(catalog: Catalog, scope: McpScope, uri: string): boolean {
  return catalog.listResources(scope).some((r) => r.uri === uri) || matchTemplate(catalog, scope, uri) !== undefined;
}

export async function readResource(
  catalog: Catalog,
  scope: McpScope,
  uri: string,
  context: (serverId: string) => HandlerContext,
): Promise<ReadResourceResult> {
  const resource = catalog.listResources(scope).find((r) => r.uri === uri);
  if (resource) return resource.read(context(resource.serverId));
  const matched = matchTemplate(catalog, scope, uri);
  if (matched) return matched.template.read(uri, matched.variables, context(matched.template.serverId));
  throw resourceNotFound(uri);
}
