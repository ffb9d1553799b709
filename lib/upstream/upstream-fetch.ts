/**
 * The `fetch` an HTTP upstream's SDK transport uses: each request of a call carries a child of the
 * downstream request's `traceparent`, and the bytes of a call's answer are counted as they stream
 * in; past `maxAnswerBytes` the call ends there, with an error naming the upstream, instead of the
 * whole answer being held first.
 */
import { childTraceparent } from '../hop/trace.js';
import { currentCall } from './upstream-call.js';
import { UpstreamError } from './upstream-error.js';

type Fetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

export function upstreamFetch(upstream: string, maxAnswerBytes: number, base: Fetch = fetch): Fetch {
  return async (url, init) => {
    const call = currentCall();
    if (!call) return base(url, init);
    const traceparent = childTraceparent(call.traceparent);
    const headers = new Headers(init?.headers);
    if (traceparent) headers.set('traceparent', traceparent);
    const response = await base(url, { ...init, headers });
    if (init?.method !== 'POST' || !response.body) return response;
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
