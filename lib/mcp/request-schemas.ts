/**
 * The SDK's schema of each request method served here: one check of a request's params, the same
 * in both protocol eras, so a bad request is refused with -32602 before anything runs.
 */
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  GetPromptRequestSchema,
  InitializeRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  PingRequestSchema,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';

interface RequestSchema {
  safeParse(value: unknown): { success: boolean; data?: unknown };
}

/** Methods whose params the SDK defines, with their schemas. */
export const REQUEST_SCHEMAS: ReadonlyMap<string, RequestSchema> = new Map<string, RequestSchema>([
  ['initialize', InitializeRequestSchema],
  ['ping', PingRequestSchema],
  ['tools/list', ListToolsRequestSchema],
  ['tools/call', CallToolRequestSchema],
  ['resources/list', ListResourcesRequestSchema],
  ['resources/read', ReadResourceRequestSchema],
  ['resources/templates/list', ListResourceTemplatesRequestSchema],
  ['prompts/list', ListPromptsRequestSchema],
  ['prompts/get', GetPromptRequestSchema],
  ['completion/complete', CompleteRequestSchema],
  ['logging/setLevel', SetLevelRequestSchema],
  ['resources/subscribe', SubscribeRequestSchema],
  ['resources/unsubscribe', UnsubscribeRequestSchema],
]);

/**
 * The request's params as the method's schema parsed them, or `undefined` when they do not match.
 * A method without a schema here passes unchanged.
 */
export function parseParams(message: { method: string; params?: unknown }): { ok: true; params: Record<string, unknown> } | { ok: false } {
  const schema = REQUEST_SCHEMAS.get(message.method);
  if (!schema) return { ok: true, params: (message.params ?? {}) as Record<string, unknown> };
  const parsed = schema.safeParse(message);
  if (!parsed.success) return { ok: false };
  return { ok: true, params: ((parsed.data as { params?: unknown }).params ?? {}) as Record<string, unknown> };
}
