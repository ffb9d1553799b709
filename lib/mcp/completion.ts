/** `completion/complete`: candidates from the completers of the scope's prompts and templates. */
import { type CompleteRequest, type CompleteResult, ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { ArgumentCompleter, Catalog, McpScope } from '../types.js';

/** At most this many completion values go back to the client (MCP's limit). */
const MAX_COMPLETIONS = 100;

async function candidates(
  completers: Readonly<Record<string, ArgumentCompleter>> | undefined,
  name: string,
  value: string,
  args: Record<string, string> | undefined,
): Promise<CompleteResult> {
  const complete = completers?.[name];
  const values = complete ? [...(await complete(value, { arguments: args ?? {} }))].map(String) : [];
  return { completion: { values: values.slice(0, MAX_COMPLETIONS), total: values.length, hasMore: values.length > MAX_COMPLETIONS } };
}

export async function complete(catalog: Catalog, scope: McpScope, params: CompleteRequest['params']): Promise<CompleteResult> {
  const { ref, argument, context } = params;
  if (ref.type === 'ref/prompt') {
    const prompt = catalog.listPrompts(scope).find((p) => p.name === ref.name);
    if (!prompt) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${ref.name}`);
    return candidates(prompt.complete, argument.name, argument.value, context?.arguments);
  }
  const template = catalog.listResourceTemplates(scope).find((t) => t.uriTemplate === ref.uri);
  if (template) return candidates(template.complete, argument.name, argument.value, context?.arguments);
  // A plain resource has nothing to complete.
  if (catalog.listResources(scope).some((r) => r.uri === ref.uri)) return candidates(undefined, '', '', undefined);
  throw new McpError(ErrorCode.InvalidParams, `Unknown resource template: ${ref.uri}`);
}
