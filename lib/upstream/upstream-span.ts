/**
 * One span per upstream call: its W3C `traceparent` (a child of the downstream request's, which
 * is the client's or the forwarding worker's hop span) goes upstream on every request of the
 * call, and `onSpan` is told of it once the call ends, so an exporter (OpenTelemetry or any other)
 * can record it without this package depending on one.
 */
import { randomBytes } from 'node:crypto';
import { childTraceparent } from '../hop/trace.js';
import type { UpstreamSpan } from '../types.js';

export interface SpanInProgress {
  /** Sent upstream; `undefined` when the request came without one and no `onSpan` is set. */
  readonly traceparent: string | undefined;
  end(outcome: UpstreamSpan['outcome'], error?: Error): void;
}

const rootTraceparent = () => `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;

export function startSpan(
  upstream: string,
  what: string,
  parent: string | undefined,
  onSpan: ((span: UpstreamSpan) => void) | undefined,
): SpanInProgress {
  // Without a parent, a trace of its own only when someone records it.
  const traceparent = childTraceparent(parent) ?? (onSpan ? rootTraceparent() : undefined);
  const startTime = Date.now();
  const started = performance.now();
  return {
    traceparent,
    end(outcome, error) {
      if (!onSpan || !traceparent) return;
      const space = what.indexOf(' ');
      const span: UpstreamSpan = {
        name: what,
        upstream,
        method: space < 0 ? what : what.slice(0, space),
        item: space < 0 ? '' : what.slice(space + 1),
        traceparent,
        ...(childTraceparent(parent) ? { parent } : {}),
        startTime,
        durationMs: performance.now() - started,
        outcome,
        ...(error ? { error: error.message } : {}),
      };
      try {
        onSpan(span);
      } catch {
        // An exporter's failure is not the call's.
      }
    },
  };
}
