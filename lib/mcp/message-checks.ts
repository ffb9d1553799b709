/**
 * What is refused before a message reaches the SDK: bodies that are not JSON-RPC, batches where the
 * protocol version has none, and requests whose params do not match their method's schema.
 */
import {
  isInitializeRequest,
  JSONRPCErrorResponseSchema,
  JSONRPCNotificationSchema,
  JSONRPCRequestSchema,
  JSONRPCResultResponseSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { ErrorCodes, JsonRpcCodes } from '../errors.js';
import { type HttpRpcError, httpRpcError } from '../http/rpc-error.js';
import { parseParams } from './request-schemas.js';

/** Versions whose clients may send JSON-RPC batches; later versions removed them. */
const BATCH_VERSIONS = new Set(['2024-11-05', '2025-03-26']);

export function idOf(message: unknown): string | number | null {
  const id = (message as { id?: unknown } | null)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

export const invalidParams = (method: unknown, id: string | number | null): HttpRpcError =>
  httpRpcError(400, JsonRpcCodes.INVALID_PARAMS, ErrorCodes.INVALID_PARAMS, `Invalid params for ${String(method)}`, { id });

/**
 * The SDK's schema for the one kind of JSON-RPC message `message` can be. Each kind is a strict
 * object, so this accepts exactly what the SDK's union `JSONRPCMessageSchema` accepts, without
 * trying (and failing) the other three on every message.
 */
function schemaFor(message: unknown) {
  const m = (typeof message === 'object' && message !== null ? message : {}) as Record<string, unknown>;
  if ('method' in m) return 'id' in m ? JSONRPCRequestSchema : JSONRPCNotificationSchema;
  return 'error' in m ? JSONRPCErrorResponseSchema : JSONRPCResultResponseSchema;
}

/** Checks one message: a JSON-RPC 2.0 message, and a request's params match its method's schema. */
export function checkMessage(message: unknown): HttpRpcError | undefined {
  if (!schemaFor(message).safeParse(message).success) {
    return httpRpcError(400, JsonRpcCodes.INVALID_REQUEST, ErrorCodes.INVALID_REQUEST, 'Invalid Request: not a JSON-RPC 2.0 message', {
      id: idOf(message),
    });
  }
  const m = message as { method?: unknown; params?: unknown };
  if (typeof m.method !== 'string' || !('id' in (message as object))) return undefined;
  return parseParams(m as { method: string }).ok ? undefined : invalidParams(m.method, idOf(message));
}

/** Checks a body (one message or a batch) for a 2025-era request; the first problem found is returned. */
export function checkMessages(messages: unknown, protocolVersion: string | undefined): HttpRpcError | undefined {
  if (Array.isArray(messages)) {
    const version = protocolVersion ?? '2025-03-26';
    if (!BATCH_VERSIONS.has(version)) {
      return httpRpcError(
        400,
        JsonRpcCodes.INVALID_REQUEST,
        ErrorCodes.INVALID_REQUEST,
        `Invalid Request: JSON-RPC batches are not allowed in protocol version ${version}`,
      );
    }
    if (messages.some(isInitializeRequest)) {
      return httpRpcError(
        400,
        JsonRpcCodes.INVALID_REQUEST,
        ErrorCodes.INVALID_REQUEST,
        'Invalid Request: initialize must be sent alone, not in a batch',
      );
    }
  }
  for (const message of Array.isArray(messages) ? messages : [messages]) {
    const problem = checkMessage(message);
    if (problem) return problem;
  }
  return undefined;
}
