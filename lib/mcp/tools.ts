/** `tools/call`: looked up inside the scope only, arguments checked against the tool's schema. */
import { type CallToolResult, ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { JsonSchemaType, JsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';
import type { Catalog, HandlerContext, Logger, McpScope, Scoped, ToolDefinition } from '../types.js';
import { UpstreamError } from '../upstream/upstream-error.js';
import { InputRequired } from './input-required.js';

const schemaValidator = new AjvJsonSchemaValidator();
/** Each input schema is compiled once, the first time its tool is called. */
const compiled = new WeakMap<object, JsonSchemaValidator<unknown>>();

/** An error message when the arguments do not match the tool's input schema. */
export function invalidArguments(tool: Scoped<ToolDefinition>, args: Record<string, unknown>): string | undefined {
  let validate = compiled.get(tool.inputSchema);
  if (!validate) compiled.set(tool.inputSchema, (validate = schemaValidator.getValidator(tool.inputSchema as JsonSchemaType)));
  const result = validate(args);
  return result.valid ? undefined : (result.errorMessage ?? 'arguments do not match the input schema');
}

const failed = (text: string): CallToolResult => ({ isError: true, content: [{ type: 'text', text }] });

export async function callTool(
  catalog: Catalog,
  scope: McpScope,
  params: { name: string; arguments?: Record<string, unknown> },
  context: (serverId: string) => HandlerContext,
  logger: Logger,
): Promise<CallToolResult> {
  const { name } = params;
  // Another server's tool does not exist here, and never runs.
  const tool = catalog.listTools(scope).find((t) => t.name === name);
  if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
  const args = params.arguments ?? {};
  const invalid = invalidArguments(tool, args);
  if (invalid) return failed(`Invalid arguments for tool ${name}: ${invalid}`);
  try {
    return await tool.handler(args, context(tool.serverId));
  } catch (error) {
    // A question to a 2026-07-28 client: the adapter answers input_required.
    if (error instanceof InputRequired) throw error;
    // An upstream server's failure is the request's error, naming the upstream.
    if (error instanceof UpstreamError) throw error;
    logger.error(`[express-mcp-affinity] tool ${tool.serverId}/${name} failed: ${String(error)}`);
    return failed(`Tool ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
