/**
 * SEP-2243 (2026-07-28): a tool argument whose schema property carries `x-mcp-header: <Name>`
 * travels also as the header `Mcp-Param-<Name>`, so intermediaries can route on it without the
 * body. The header must say what the body says (decoded, `=?base64?…?=` included), and be absent
 * exactly when the argument is null or absent; otherwise the request is refused (-32020).
 */
import type { IncomingMessage } from 'node:http';
import { singleHeader } from '../http/request-state.js';
import type { ToolDefinition } from '../types.js';
import { decodeHeaderValue } from './header-values.js';

/** The header value an argument is mirrored as; `undefined` for null or absent. */
function mirrored(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The first `Mcp-Param-*` header that disagrees with the body, by name; `undefined` when all agree. */
export function paramHeaderMismatch(req: IncomingMessage, tool: ToolDefinition, args: Record<string, unknown>): string | undefined {
  const properties = (tool.inputSchema as { properties?: Record<string, { 'x-mcp-header'?: unknown }> }).properties ?? {};
  for (const [property, schema] of Object.entries(properties)) {
    const name = schema?.['x-mcp-header'];
    if (typeof name !== 'string' || name === '') continue;
    const header = `mcp-param-${name.toLowerCase()}`;
    if (decodeHeaderValue(singleHeader(req, header)) !== mirrored(args[property])) return `Mcp-Param-${name}`;
  }
  return undefined;
}
