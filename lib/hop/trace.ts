/** W3C trace context across the hop: the hop is a span of its own, child of the client's. */
import { randomBytes } from 'node:crypto';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A traceparent for the hop, child of the client's; `undefined` when there is none (or it is invalid). */
export function childTraceparent(value: string | string[] | undefined): string | undefined {
  const match = typeof value === 'string' ? TRACEPARENT.exec(value.trim()) : null;
  if (!match || match[1] === 'ff' || /^0+$/.test(match[2]!) || /^0+$/.test(match[3]!)) return undefined;
  return `00-${match[2]}-${randomBytes(8).toString('hex')}-${match[4]}`;
}

/** `tracestate` with this worker's entry first, naming the worker that received the request. */
export function hopTracestate(workerId: string, incoming: string | string[] | undefined): string {
  return [
    `mcpaffinity=${workerId}`,
    ...String(incoming ?? '')
      .split(',')
      .filter((e) => e && !e.trim().startsWith('mcpaffinity=')),
  ]
    .slice(0, 32)
    .join(',');
}
