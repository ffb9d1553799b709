/** An upstream's failure, as the client sees it: a JSON-RPC error (never a tool result) naming the upstream. */
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';

export class UpstreamError extends McpError {
  constructor(upstream: string, reason: string) {
    super(ErrorCode.InternalError, `Upstream ${upstream}: ${reason}`);
    // The SDK's McpError prefixes "MCP error -32603: ", and its server sends the message as it
    // is: a client would read the prefix (twice, through the SDK client). The error says what it is.
    this.message = `Upstream ${upstream}: ${reason}`;
  }
}
