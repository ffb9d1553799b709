/**
 * Where a session lives when its id does not say (its owner is gone, or it sleeps here): one store
 * lookup, then an adoption when nobody live owns it. Of several workers adopting at once, the
 * store lets one win; the others forward to it.
 */
import type { Logger, SessionRecord, SessionStore, WorkerRecord } from '../types.js';
import type { MovedSessions } from './moved-sessions.js';
import type { SessionRegistry } from './session-registry.js';

/** What resolving needs of the worker. */
export interface ContinuityDeps {
  readonly workerId: string;
  readonly store: SessionStore;
  readonly sessions: SessionRegistry;
  readonly movedSessions: MovedSessions;
  readonly isDraining: boolean;
  readonly logger: Logger;
}

export type Resolution =
  /** This worker owns the session now: serve it here (rebuilding it from `record`). */
  | { readonly kind: 'local'; readonly record: SessionRecord }
  /** A live worker owns it: forward there. */
  | { readonly kind: 'remote'; readonly owner: WorkerRecord }
  /** No such session (ended, expired, never issued). */
  | { readonly kind: 'gone' };

const GONE: Resolution = { kind: 'gone' };

async function liveWorker(worker: ContinuityDeps, workerId: string, unreachable: string | undefined): Promise<WorkerRecord | undefined> {
  if (workerId === '' || workerId === unreachable) return undefined;
  return worker.store.getWorker(workerId);
}

/**
 * Resolves the session's owner from its record, adopting it when its owner is gone. `unreachable`
 * names a worker the caller just found nobody listening for.
 */
export async function resolveSession(worker: ContinuityDeps, sessionId: string, unreachable?: string): Promise<Resolution> {
  const { store, workerId } = worker;
  const record = await store.getSession(sessionId);
  if (!record) return GONE;
  if (record.workerId === workerId) return worker.sessions.handedOff ? GONE : { kind: 'local', record };
  const live = await liveWorker(worker, record.workerId, unreachable);
  if (live) {
    worker.movedSessions.set(sessionId, live.workerId);
    return { kind: 'remote', owner: live };
  }
  // A worker handing its sessions off does not take others'.
  if (worker.sessions.handedOff || worker.isDraining || !store.adoptSession) return GONE;
  const adopted = await store.adoptSession(sessionId, workerId, unreachable);
  if (!adopted) return GONE;
  if (adopted.workerId === workerId) {
    worker.logger.info(`[express-mcp-affinity] worker ${workerId} adopted a session of ${record.workerId} (epoch ${adopted.epoch ?? 0})`);
    worker.movedSessions.set(sessionId, workerId);
    return { kind: 'local', record: adopted };
  }
  const winner = await liveWorker(worker, adopted.workerId, unreachable);
  if (!winner) return GONE;
  worker.movedSessions.set(sessionId, winner.workerId);
  return { kind: 'remote', owner: winner };
}
