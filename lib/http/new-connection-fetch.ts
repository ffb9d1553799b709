/**
 * A `fetch` that opens a new TCP connection for every request.
 *
 * Keep-alive reuse hides affinity bugs: a pooled connection keeps reaching the same worker, so a
 * test (or a demo) of forwarding must not reuse connections. Hand this to the MCP SDK client:
 * `new StreamableHTTPClientTransport(url, { fetch: newConnectionFetch() })`.
 */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

export function newConnectionFetch(): typeof fetch {
  return async function fetchOverNewConnection(input, init) {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    const headers: Record<string, string> = { connection: 'close' };
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const client = url.protocol === 'https:' ? https : http;
    return new Promise<Response>((resolve, reject) => {
      const outgoing = client.request(url, { method: request.method, headers, agent: false, signal: request.signal }, (incoming) => {
        const responseHeaders = new Headers();
        for (let i = 0; i < incoming.rawHeaders.length; i += 2)
          responseHeaders.append(incoming.rawHeaders[i]!, incoming.rawHeaders[i + 1]!);
        const status = incoming.statusCode ?? 502;
        const empty = status === 204 || status === 205 || status === 304 || request.method === 'HEAD';
        if (empty) incoming.resume();
        resolve(
          new Response(empty ? null : (Readable.toWeb(incoming) as ReadableStream<Uint8Array>), {
            status,
            statusText: incoming.statusMessage ?? '',
            headers: responseHeaders,
          }),
        );
      });
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  };
}
