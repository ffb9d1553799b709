/** The messages between a cluster worker's `ClusterStore` and the primary, over node:cluster IPC. */
import type { GatewayEvent, SessionRecord, WorkerRecord } from '../types.js';

export const TAG = 'express-mcp-affinity';

export type ToPrimary =
  | { tag: typeof TAG; type: 'register'; worker: WorkerRecord; ttlMs: number }
  | { tag: typeof TAG; type: 'beat'; worker: WorkerRecord; ttlMs: number }
  | { tag: typeof TAG; type: 'deregister'; workerId: string }
  | { tag: typeof TAG; type: 'claim'; requestId: number; record: SessionRecord }
  | { tag: typeof TAG; type: 'get-session'; requestId: number; sessionId: string }
  | { tag: typeof TAG; type: 'list-sessions'; requestId: number; principal: string }
  | { tag: typeof TAG; type: 'release'; sessionId: string; workerId: string }
  | { tag: typeof TAG; type: 'save'; requestId: number; record: SessionRecord }
  | { tag: typeof TAG; type: 'adopt'; requestId: number; sessionId: string; workerId: string; unreachable?: string }
  | { tag: typeof TAG; type: 'retire'; workerId: string }
  | { tag: typeof TAG; type: 'publish'; event: GatewayEvent };

export type ToWorker =
  | { tag: typeof TAG; type: 'members'; members: WorkerRecord[] }
  | { tag: typeof TAG; type: 'register-refused'; workerId: string; reason: string }
  | { tag: typeof TAG; type: 'reply'; requestId: number; value: unknown }
  | { tag: typeof TAG; type: 'event'; event: GatewayEvent };

export function isOurs<T extends { tag: string }>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && (message as { tag?: unknown }).tag === TAG;
}
