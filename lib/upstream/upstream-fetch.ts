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

/**
 * A signal of this request alone, following the transport's. The SDK's transport gives every
 * request its one long-lived signal, and undici adds a listener to it per request that only
 * garbage collection removes: past 1,500 requests between collections, every call printed a
 * MaxListenersExceededWarning. This one listener is removed once the answer has been read.
 */
function ownSignal(outer: AbortSignal | null | undefined): { signal: AbortSignal | undefined; release: () => void } {
  if (!outer) return { signal: undefined, release: () => undefined };
  const controller = new AbortController();
  const abort = () => controller.abort(outer.reason);
  if (outer.aborted) abort();
  else outer.addEventListener('abort', abort, { once: true });
  return { signal: controller.signal, release: () => outer.removeEventListener('abort', abort) };
}

export function upstreamFetch(upstream: string, maxAnswerBytes: number, forwarded?: ForwardedToken, base: Fetch = fetch): Fetch {
  return async (url, init) => {
    const call = currentCall();
    const token = forwarded?.(call);
    const headers = new Headers(init?.headers);
    if (token) headers.set('authorization', `Bearer ${token}`);
    // The call's own span (lib/upstream/upstream-span.ts): the upstream's spans are its children.
    if (call?.traceparent) headers.set('traceparent', call.traceparent);
    const { signal, release } = ownSignal(init?.signal);
    let response: Response;
    try {
      response = await base(url, { ...init, headers, ...(signal ? { signal } : {}) });
    } catch (error) {
      release();
      throw error;
    }
    if (!response.body) {
      release();
      return response;
    }
    // A call's answer is counted as it streams; past maxAnswerBytes the call ends there.
    const counting = call !== undefined && init?.method === 'POST';
    let bytes = 0;
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          bytes += chunk.byteLength;
          if (!counting || bytes <= maxAnswerBytes) return controller.enqueue(chunk);
          const error = new UpstreamError(
            upstream,
            `${call.what}: an answer of ${bytes} bytes, over maxAnswerBytes (${maxAnswerBytes}); cut while it streamed`,
          );
          release();
          // The call fails with this error first; the SDK then sees its stream end.
          call.abort(error);
          controller.error(error);
        },
        flush: release,
      }),
    );
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
