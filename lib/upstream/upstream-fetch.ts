/**
 * The `fetch` an HTTP upstream's SDK transport uses: each request of a call carries the call's
 * span (a child of the downstream request's `traceparent`), and the bytes of a call's answer are counted as they stream
 * in; past `maxAnswerBytes` the call ends there, with an error naming the upstream, instead of the
 * whole answer being held first. With `forwardAuthorization`, a request carries the caller's
 * own bearer token: the call's, else the one its per-client upstream session last saw.
 */
import { currentCall, type UpstreamCall } from './upstream-call.js';
import { UpstreamError } from './upstream-error.js';

type Fetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/** The caller's token to send, when tokens are forwarded. */
export type ForwardedToken = (call: UpstreamCall | undefined) => string | undefined;

export function upstreamFetch(upstream: string, maxAnswerBytes: number, forwarded?: ForwardedToken, base: Fetch = fetch): Fetch {
  return async (url, init) => {
    const call = currentCall();
    const token = forwarded?.(call);
    if (!call && !token) return base(url, init);
    const headers = new Headers(init?.headers);
    if (token) headers.set('authorization', `Bearer ${token}`);
    // The call's own span (lib/upstream/upstream-span.ts): the upstream's spans are its children.
    if (call?.traceparent) headers.set('traceparent', call.traceparent);
    const response = await base(url, { ...init, headers });
    if (!call || init?.method !== 'POST' || !response.body) return response;
    let bytes = 0;
    const counted = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          bytes += chunk.byteLength;
          if (bytes <= maxAnswerBytes) return controller.enqueue(chunk);
          const error = new UpstreamError(
            upstream,
            `${call.what}: an answer of ${bytes} bytes, over maxAnswerBytes (${maxAnswerBytes}); cut while it streamed`,
          );
          // The call fails with this error first; the SDK then sees its stream end.
          call.abort(error);
          controller.error(error);
        },
      }),
    );
    return new Response(counted, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
