/** An upstream's failure, as the client sees it: a JSON-RPC error (never a tool result) naming the upstream. */
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';

export class UpstreamError extends McpError {
  constructor(upstream: string, reason: string) {
    super(ErrorCode.InternalError, `Upstream ${upstream}: ${reason}`);
  }
}
