/** `prompts/get`: inside the scope only, required arguments checked before the prompt runs. */
import { ErrorCode, type GetPromptResult, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { Catalog, HandlerContext, McpScope } from '../types.js';

export async function getPrompt(
  catalog: Catalog,
  scope: McpScope,
  params: { name: string; arguments?: Record<string, string> },
  context: (serverId: string) => HandlerContext,
): Promise<GetPromptResult> {
  const { name } = params;
  const prompt = catalog.listPrompts(scope).find((p) => p.name === name);
  if (!prompt) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${name}`);
  const args = params.arguments ?? {};
  const missing = (prompt.arguments ?? []).filter((a) => a.required && args[a.name] === undefined).map((a) => a.name);
  if (missing.length > 0)
    throw new McpError(ErrorCode.InvalidParams, `Missing required arguments for prompt ${name}: ${missing.join(', ')}`);
  return prompt.get(args, context(prompt.serverId));
}
