/**
 * The transport a session's SDK `Server` is connected to. A POST carrying one request (or only
 * notifications and responses) is framed here, straight onto Node's response: the same headers,
 * events and JSON bodies the SDK's web-standard transport writes, without a web `Request`,
 * `Response` and `ReadableStream` per request, which cost more than the rest of a local request.
 * Everything else goes to the SDK's transport, unchanged: `initialize`, GET streams, DELETE,
 * batches, resumable streams (an event store), and whatever it would refuse (a wrong `Accept`,
 * `Content-Type` or `MCP-Protocol-Version`), so its checks and answers stay the SDK's own.
 * Either way the SDK `Server` answers the method: framing is the only thing decided here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { type JSONRPCMessage, type MessageExtraInfo, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { NodeStream } from './node-stream.js';
import { handleWithTransport } from './web-transport.js';

type RequestId = string | number;

// The messages here are checked already (a client's by the gateway with the SDK's schemas, a
// reply by the SDK that made it): their shape tells their kind, without a schema pass over a
// whole result (a long tools/list) on every answer.
const isRequest = (m: JSONRPCMessage): m is JSONRPCMessage & { id: RequestId } => 'method' in m && 'id' in m;
const isResponse = (m: JSONRPCMessage): m is JSONRPCMessage & { id: RequestId } => 'result' in m || 'error' in m;

/** What the SDK's transport accepts without a word: only such requests are framed here. */
function framedHere(req: IncomingMessage, message: unknown): message is JSONRPCMessage {
  if (req.method !== 'POST' || Array.isArray(message) || typeof message !== 'object' || message === null) return false;
  if ((message as { method?: unknown }).method === 'initialize') return false;
  // The SDK's own tests: Accept lists both types (a substring check), Content-Type is JSON.
  const accept = req.headers.accept;
  if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) return false;
  if (req.headers['content-type']?.split(';', 1)[0]?.trim().toLowerCase() !== 'application/json') return false;
  const version = req.headers['mcp-protocol-version'];
  return version === undefined || SUPPORTED_PROTOCOL_VERSIONS.includes(version as string);
}

export class SessionTransport implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: Transport['onclose'];
  onerror?: Transport['onerror'];
  /** The streams framed here, by the id of the request each one answers. */
  private readonly streams = new Map<RequestId, NodeStream>();

  /**
   * `frames`: false when the SDK's transport must frame every POST itself (an event store makes
   * its streams resumable, with event ids only it assigns).
   */
  constructor(
    readonly sdk: WebStandardStreamableHTTPServerTransport,
    private readonly frames: boolean,
    private readonly jsonResponse: boolean,
  ) {
    sdk.onmessage = (message, extra) => this.onmessage?.(message, extra);
    sdk.onerror = (error) => this.onerror?.(error);
    sdk.onclose = () => {
      this.endStreams();
      this.onclose?.();
    };
  }

  get sessionId(): string | undefined {
    return this.sdk.sessionId;
  }

  start(): Promise<void> {
    return this.sdk.start();
  }

  async close(): Promise<void> {
    this.endStreams();
    await this.sdk.close();
  }

  /** Serves one HTTP request of the session, resolved once its answer is written (or abandoned). */
  handle(req: IncomingMessage, res: ServerResponse, message: unknown, authInfo: AuthInfo | undefined): Promise<void> {
    if (!this.frames || this.sdk.sessionId === undefined || !framedHere(req, message)) {
      return handleWithTransport(this.sdk, req, res, message, authInfo);
    }
    const extra: MessageExtraInfo = { requestInfo: { headers: req.headers }, ...(authInfo ? { authInfo } : {}) };
    const done = new Promise<void>((resolve) => res.once('close', resolve));
    if (!isRequest(message)) {
      // Notifications and responses only: accepted, nothing to stream (as the SDK answers).
      this.onmessage?.(message, extra);
      res.writeHead(202).end();
      return done;
    }
    const id = message.id;
    const stream = new NodeStream(res, id, this.sdk.sessionId, this.jsonResponse);
    this.streams.set(id, stream);
    // A client gone before the answer: the SDK sends none for a cancelled request, so the entry goes here.
    res.once('close', () => {
      if (this.streams.get(id) === stream) this.streams.delete(id);
    });
    this.onmessage?.(message, extra);
    return done;
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const last = isResponse(message);
    const id = last ? message.id : options?.relatedRequestId;
    const stream = id === undefined ? undefined : this.streams.get(id);
    // Not one of ours: a request the SDK framed, or the session's standalone GET stream.
    if (!stream) return this.sdk.send(message, options);
    if (last) this.streams.delete(id as RequestId);
    stream.write(message, last);
  }

  private endStreams(): void {
    for (const stream of this.streams.values()) stream.end();
    this.streams.clear();
  }
}
