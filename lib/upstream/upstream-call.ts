/**
 * The downstream request an upstream request serves, carried through the SDK client's async work
 * (`AsyncLocalStorage`): what the upstream sends back on that request's stream (a sampling or
 * elicitation request, a log message, the answer's bytes) is then known to belong to it, without
 * the SDK client having to say which request a message relates to.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { HandlerContext } from '../types.js';

export interface UpstreamCall {
  /** What the call is, for errors: `tools/call add`. */
  readonly what: string;
  readonly ctx: HandlerContext;
  /** The `traceparent` to send upstream: the call's span, a child of the downstream request's. */
  readonly traceparent: string | undefined;
  /** Ends the upstream request with this error (the SDK sends `notifications/cancelled`). */
  abort(error: Error): void;
}

const calls = new AsyncLocalStorage<UpstreamCall>();

export const currentCall = (): UpstreamCall | undefined => calls.getStore();

export const withinCall = <T>(call: UpstreamCall, run: () => Promise<T>): Promise<T> => calls.run(call, run);

/** Work that belongs to no call (a connection, its GET stream), even when a call started it. */
export const outsideCalls = <T>(run: () => Promise<T>): Promise<T> => calls.exit(run);
