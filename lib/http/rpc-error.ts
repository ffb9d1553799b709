/**
 * Errors sent as HTTP answers with a JSON-RPC body: `{"jsonrpc":"2.0","id":…,"error":{"code":…,
 * "message":…,"data":{"code":"ERR_MCP_AFFINITY_…"}}}`, never an HTML page.
 */
import type { ServerResponse } from 'node:http';
import { type ErrorCode, ErrorCodes, JsonRpcCodes } from '../errors.js';

/** A JSON-RPC-shaped HTTP error, ready to send. */
export interface HttpRpcError {
  readonly status: number;
  readonly rpcCode: number;
  readonly message: string;
  readonly code: ErrorCode;
  readonly headers?: Readonly<Record<string, string>>;
  readonly id?: string | number | null;
}

export function httpRpcError(
  status: number,
  rpcCode: number,
  code: ErrorCode,
  message: string,
  extra: Pick<HttpRpcError, 'headers' | 'id'> = {},
): HttpRpcError {
  return { status, rpcCode, code, message, ...extra };
}

/**
 * Sends a JSON-RPC error body. Never throws: when headers are already out, the response is ended.
 */
export function sendRpcError(res: ServerResponse, error: HttpRpcError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: error.id ?? null,
    error: { code: error.rpcCode, message: error.message, data: { code: error.code } },
  });
  res.statusCode = error.status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(body));
  for (const [name, value] of Object.entries(error.headers ?? {})) res.setHeader(name, value);
  res.end(body);
}

/** The 404 every unknown, ended, mis-bound or orphaned session gets. */
export const sessionNotFound = (): HttpRpcError =>
  httpRpcError(404, JsonRpcCodes.SESSION_NOT_FOUND, ErrorCodes.SESSION_NOT_FOUND, 'Session not found');

export function isHttpRpcError(value: unknown): value is HttpRpcError {
  return typeof value === 'object' && value !== null && 'rpcCode' in value && 'status' in value;
}
