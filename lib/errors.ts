/**
 * Every error the suite sends or throws carries one of these codes: in `error.data.code` of a
 * JSON-RPC error body, or in `.code` of a thrown `McpAffinityError`.
 */
export const ErrorCodes = {
  /** An option was missing or wrong when a middleware was created. */
  INVALID_OPTION: 'ERR_MCP_AFFINITY_INVALID_OPTION',
  /** The request body was not valid JSON (HTTP 400, JSON-RPC -32700). */
  PARSE_ERROR: 'ERR_MCP_AFFINITY_PARSE_ERROR',
  /** The body was JSON but not a JSON-RPC message, or a batch where batches are not allowed (400, -32600). */
  INVALID_REQUEST: 'ERR_MCP_AFFINITY_INVALID_REQUEST',
  /** A request's params did not match the method's schema (400, -32602). */
  INVALID_PARAMS: 'ERR_MCP_AFFINITY_INVALID_PARAMS',
  /** The Content-Type was not application/json (415). */
  UNSUPPORTED_MEDIA_TYPE: 'ERR_MCP_AFFINITY_UNSUPPORTED_MEDIA_TYPE',
  /** The body did not arrive within `bodyTimeoutMs` (408). */
  BODY_TIMEOUT: 'ERR_MCP_AFFINITY_BODY_TIMEOUT',
  /** The body was larger than `bodyLimit` (413). */
  BODY_TOO_LARGE: 'ERR_MCP_AFFINITY_BODY_TOO_LARGE',
  /** The session id is unknown, ended, bound to another endpoint, or its owner is gone (404). */
  SESSION_NOT_FOUND: 'ERR_MCP_AFFINITY_SESSION_NOT_FOUND',
  /** A 2025-era request other than initialize came without a session id (400). */
  SESSION_REQUIRED: 'ERR_MCP_AFFINITY_SESSION_REQUIRED',
  /** A path shaped like an MCP endpoint that is not one, such as `/mcp.json` (404). */
  NOT_FOUND: 'ERR_MCP_AFFINITY_NOT_FOUND',
  /** A GET or DELETE that declares a body (400): MCP's have none, and it is never read. */
  UNEXPECTED_BODY: 'ERR_MCP_AFFINITY_UNEXPECTED_BODY',
  /** The path names a virtual server that does not exist or whose id is not allowed (404). */
  UNKNOWN_SERVER: 'ERR_MCP_AFFINITY_UNKNOWN_SERVER',
  /** A request claimed to be an internal hop without a valid, fresh, unreplayed signature (403). */
  HOP_REFUSED: 'ERR_MCP_AFFINITY_HOP_REFUSED',
  /** The `Host` or `Origin` header is not allowed (403): DNS-rebinding protection. */
  FORBIDDEN_ORIGIN: 'ERR_MCP_AFFINITY_FORBIDDEN_ORIGIN',
  /** The HTTP method is not served on an MCP endpoint (405). */
  METHOD_NOT_ALLOWED: 'ERR_MCP_AFFINITY_METHOD_NOT_ALLOWED',
  /** The owner did not answer within `forwardTimeoutMs` (504). */
  FORWARD_TIMEOUT: 'ERR_MCP_AFFINITY_FORWARD_TIMEOUT',
  /** The owner could not be reached for a reason other than its death (502). */
  FORWARD_FAILED: 'ERR_MCP_AFFINITY_FORWARD_FAILED',
  /** The middlewares were mounted in the wrong order or one is missing (500). */
  MISWIRED: 'ERR_MCP_AFFINITY_MISWIRED',
  /** Over `maxConcurrentPerSession` (429) or `maxConcurrentRequests` (503), with `Retry-After`. */
  TOO_MANY_REQUESTS: 'ERR_MCP_AFFINITY_TOO_MANY_REQUESTS',
  /** The worker is draining and takes no new session (503, `Retry-After`). */
  DRAINING: 'ERR_MCP_AFFINITY_DRAINING',
  /** The store failed (503). */
  STORE_UNAVAILABLE: 'ERR_MCP_AFFINITY_STORE_UNAVAILABLE',
  /** Anything else that went wrong inside the gateway (500). */
  INTERNAL: 'ERR_MCP_AFFINITY_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Thrown for misconfiguration, at mount time. */
export class McpAffinityError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'McpAffinityError';
    this.code = code;
  }
}

/** JSON-RPC error codes used in error bodies. */
export const JsonRpcCodes = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** Generic server error, as the MCP SDK uses for transport-level refusals. */
  SERVER_ERROR: -32000,
  /** Session not found, as the MCP SDK uses. */
  SESSION_NOT_FOUND: -32001,
  /** MCP's code for a resource that does not exist (2025 era; 2026-07-28 uses -32602). */
  RESOURCE_NOT_FOUND: -32002,
  /** `Mcp-Method` or `Mcp-Name` disagrees with the body (2026-07-28; the code the v2 SDK uses). */
  HEADER_MISMATCH: -32020,
} as const;
