/**
 * The answer to one POSTed request, written onto Node's response as the SDK's web-standard
 * transport writes it: one JSON body (`jsonResponse`), or an SSE stream of the request's
 * notifications and server-to-client requests, ending with its response. An SSE stream's headers
 * leave with its first event, in one write.
 */
import type { ServerResponse } from 'node:http';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCodes, JsonRpcCodes } from '../errors.js';

export class NodeStream {
  constructor(
    private readonly res: ServerResponse,
    private readonly requestId: string | number,
    private readonly sessionId: string,
    private readonly json: boolean,
  ) {}

  /** One message for this request's client; `last` for the response, which ends the answer. */
  write(message: JSONRPCMessage, last: boolean): void {
    const { res } = this;
    if (res.writableEnded || res.destroyed) return;
    if (this.json) {
      // As the SDK: a JSON answer carries the response only; notifications have no place in it.
      if (!last) return;
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': this.sessionId });
      res.end(JSON.stringify(message));
      return;
    }
    if (!res.headersSent) {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'mcp-session-id': this.sessionId,
      });
    }
    const event = `event: message\ndata: ${JSON.stringify(message)}\n\n`;
    if (last) res.end(event);
    else res.write(event);
  }

  /** The session ended before the answer: the client is told so, not left waiting. */
  end(): void {
    const error = {
      jsonrpc: '2.0' as const,
      id: this.requestId,
      error: { code: JsonRpcCodes.SESSION_NOT_FOUND, message: 'The session ended', data: { code: ErrorCodes.SESSION_NOT_FOUND } },
    };
    this.write(error, true);
  }
}
