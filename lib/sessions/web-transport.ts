/**
 * Drives the SDK's web-standard Streamable HTTP transport from Node's request and response. The
 * SDK's Node transport does the same through a general-purpose adapter on every request; here the
 * body is already parsed (the gateway read it once), so the `Request` carries headers only, and
 * the `Response` is written back chunk by chunk: each SSE event reaches the client as it is made.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';

/** The URL only names the path: the transport reads headers and the parsed body, not the host. */
export const INTERNAL_ORIGIN = 'http://mcp-affinity.internal';

export function toWebRequest(req: IncomingMessage): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  return new Request(INTERNAL_ORIGIN + (req.url ?? '/'), { method: req.method ?? 'GET', headers });
}

/** Writes a web `Response` to `res`; a client that goes away cancels the stream (the SDK cleans up). */
export async function writeWebResponse(response: Response, req: IncomingMessage, res: ServerResponse): Promise<void> {
  res.statusCode = response.status;
  response.headers.forEach((value, name) => {
    res.setHeader(name, value);
  });
  const body = response.body;
  if (!body) {
    res.end();
    return;
  }
  const reader = body.getReader();
  const cancel = (): void => {
    if (!res.writableFinished) reader.cancel().catch(() => undefined);
  };
  res.once('close', cancel);
  // A GET stream may wait long for its first event: its headers go out now. A POST's stream
  // starts with its answer, so its headers leave with the first event, in one write.
  if (req.method === 'GET') res.flushHeaders();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.destroyed) res.write(value);
    }
  } catch {
    // The stream was cancelled (the client went away) or failed: nothing more to send.
  } finally {
    res.off('close', cancel);
    if (!res.writableEnded) res.end();
  }
}

/** Runs one request through the transport, with the body the gateway already parsed. */
export async function handleWithTransport(
  transport: WebStandardStreamableHTTPServerTransport,
  req: IncomingMessage,
  res: ServerResponse,
  parsedBody: unknown,
  authInfo?: AuthInfo,
): Promise<void> {
  const response = await transport.handleRequest(toWebRequest(req), { parsedBody, authInfo });
  await writeWebResponse(response, req, res);
}
