/**
 * The primary's side of the embedded cluster store: the table of workers and sessions, pushed to
 * every worker when membership changes; claims, adoptions and snapshots answered here, atomically
 * (one process, one event loop).
 */
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { ErrorCodes, McpAffinityError } from '../errors.js';
import { checkOptionsObject, positiveInteger } from '../options/validations.js';
import type { SessionRecord, WorkerRecord } from '../types.js';
import { isOurs, TAG, type ToPrimary, type ToWorker } from './cluster-messages.js';

/** What `setupClusterPrimary()` returns. */
export interface ClusterPrimary {
  /** The workers currently registered. */
  workers(): WorkerRecord[];
  /** The number of sessions recorded. */
  sessionCount(): number;
  /** Removes the primary's listeners and timers. */
  close(): void;
}

/** Options of `setupClusterPrimary()`. */
export interface ClusterPrimaryOptions {
  /**
   * A session whose owner exited (or retired) and that no worker adopted within this long is
   * forgotten, in milliseconds.
   * @default 1800000 (30 minutes)
   */
  orphanTtlMs?: number;
  /** Called when a worker is counted as gone because its heartbeat stopped (it may come back). */
  onWorkerLost?: (workerId: string) => void;
}

/** The primary's tables: live workers, and sessions (an exited owner's kept for adoption). */
class PrimaryTable {
  readonly members = new Map<string, { record: WorkerRecord; process: ClusterWorker; lastBeat: number; ttlMs: number }>();
  readonly sessions = new Map<string, SessionRecord>();
  /** Sessions whose owner left, and since when (ms): adoptable until swept. */
  readonly orphans = new Map<string, number>();

  broadcast(): void {
    const message: ToWorker = { tag: TAG, type: 'members', members: [...this.members.values()].map((m) => m.record) };
    for (const worker of Object.values(cluster.workers ?? {})) if (worker?.isConnected()) worker.send(message);
  }

  /** The worker leaves; `keepSessions` leaves its sessions for others to adopt. */
  leave(workerId: string, keepSessions: boolean): void {
    if (!this.members.delete(workerId)) return;
    const now = Date.now();
    for (const [id, record] of this.sessions) {
      if (record.workerId !== workerId) continue;
      if (keepSessions) this.orphans.set(id, now);
      else this.sessions.delete(id);
    }
    this.broadcast();
  }

  save(worker: ClusterWorker, record: SessionRecord): boolean {
    const current = this.sessions.get(record.sessionId);
    const ok =
      current !== undefined &&
      current.workerId === record.workerId &&
      (current.epoch ?? 0) === (record.epoch ?? 0) &&
      this.members.get(record.workerId)?.process === worker;
    if (ok) this.sessions.set(record.sessionId, { ...current, ...(record.snapshot === undefined ? {} : { snapshot: record.snapshot }) });
    return ok;
  }

  adopt(worker: ClusterWorker, sessionId: string, workerId: string, unreachable: string | undefined): SessionRecord | null {
    const current = this.sessions.get(sessionId);
    if (!current) return null;
    const ownerLive = this.members.has(current.workerId) && current.workerId !== unreachable;
    if (current.workerId === workerId || ownerLive || this.members.get(workerId)?.process !== worker) return current;
    const adopted = { ...current, workerId, epoch: (current.epoch ?? 0) + 1 };
    this.sessions.set(sessionId, adopted);
    this.orphans.delete(sessionId);
    return adopted;
  }

  /** Workers silent past their heartbeat TTL (paused, hung) leave; their sessions become adoptable. */
  evictSilent(now: number, onLost: ((workerId: string) => void) | undefined): void {
    for (const [workerId, member] of [...this.members]) {
      if (now - member.lastBeat <= member.ttlMs) continue;
      this.leave(workerId, true);
      onLost?.(workerId);
    }
  }

  sweep(now: number, ttlMs: number): void {
    for (const [id, since] of this.orphans) {
      if (now - since < ttlMs) continue;
      this.orphans.delete(id);
      const record = this.sessions.get(id);
      if (record && !this.members.has(record.workerId)) this.sessions.delete(id);
    }
  }
}

function register(table: PrimaryTable, worker: ClusterWorker, record: WorkerRecord, ttlMs: number): void {
  const existing = table.members.get(record.workerId);
  if (existing && existing.process !== worker) {
    worker.send({
      tag: TAG,
      type: 'register-refused',
      workerId: record.workerId,
      reason: 'another live worker already uses this id',
    } satisfies ToWorker);
    return;
  }
  table.members.set(record.workerId, { record, process: worker, lastBeat: Date.now(), ttlMs });
  table.broadcast();
}

/** A beat keeps a member; from a worker that was evicted while silent, it joins again. */
function beat(table: PrimaryTable, worker: ClusterWorker, record: WorkerRecord, ttlMs: number): void {
  const member = table.members.get(record.workerId);
  if (member?.process === worker) member.lastBeat = Date.now();
  else if (!member) register(table, worker, record, ttlMs);
}

function claim(table: PrimaryTable, worker: ClusterWorker, record: SessionRecord): boolean {
  const ok = table.members.get(record.workerId)?.process === worker && !table.sessions.has(record.sessionId);
  if (ok) table.sessions.set(record.sessionId, record);
  return ok;
}

function handle(table: PrimaryTable, worker: ClusterWorker, message: ToPrimary): void {
  const reply = (requestId: number, value: unknown): void => {
    if (worker.isConnected()) worker.send({ tag: TAG, type: 'reply', requestId, value } satisfies ToWorker);
  };
  const isMember = (workerId: string) => table.members.get(workerId)?.process === worker;
  switch (message.type) {
    case 'register':
      return register(table, worker, message.worker, message.ttlMs ?? 3000);
    case 'beat':
      return beat(table, worker, message.worker, message.ttlMs);
    case 'deregister':
      if (isMember(message.workerId)) table.leave(message.workerId, false);
      return;
    case 'retire':
      if (isMember(message.workerId)) table.leave(message.workerId, true);
      return;
    case 'claim':
      return reply(message.requestId, claim(table, worker, message.record));
    case 'get-session':
      return reply(message.requestId, table.sessions.get(message.sessionId) ?? null);
    case 'list-sessions':
      return reply(
        message.requestId,
        [...table.sessions.values()].filter((r) => r.snapshot?.principal === message.principal),
      );
    case 'save':
      return reply(message.requestId, table.save(worker, message.record));
    case 'adopt':
      return reply(message.requestId, table.adopt(worker, message.sessionId, message.workerId, message.unreachable));
    case 'publish': {
      const event: ToWorker = { tag: TAG, type: 'event', event: message.event };
      for (const other of Object.values(cluster.workers ?? {})) if (other?.isConnected()) other.send(event);
      return;
    }
    case 'release':
      if (table.sessions.get(message.sessionId)?.workerId === message.workerId && isMember(message.workerId)) {
        table.sessions.delete(message.sessionId);
        table.orphans.delete(message.sessionId);
      }
      return;
  }
}

/**
 * Call once in the cluster primary, before forking: it keeps the table of workers and sessions
 * and tells every worker when a worker joins or dies. A worker's sessions outlive it, for another
 * worker to adopt (session continuity), until `orphanTtlMs`.
 */
export function setupClusterPrimary(options: ClusterPrimaryOptions = {}): ClusterPrimary {
  if (!cluster.isPrimary) {
    throw new McpAffinityError(
      ErrorCodes.INVALID_OPTION,
      'setupClusterPrimary: called in a cluster worker; call it in the primary process, before cluster.fork().',
    );
  }
  checkOptionsObject('setupClusterPrimary', options, ['orphanTtlMs', 'onWorkerLost']);
  const orphanTtlMs = positiveInteger('setupClusterPrimary', 'orphanTtlMs', options.orphanTtlMs, 30 * 60_000);
  const table = new PrimaryTable();
  const onMessage = (worker: ClusterWorker, message: unknown): void => {
    if (isOurs<ToPrimary>(message)) handle(table, worker, message);
  };
  const onExit = (worker: ClusterWorker): void => {
    for (const [workerId, member] of table.members) if (member.process === worker) table.leave(workerId, true);
  };
  const sweeper = setInterval(() => table.sweep(Date.now(), orphanTtlMs), Math.min(60_000, orphanTtlMs));
  sweeper.unref();
  const evictor = setInterval(() => table.evictSilent(Date.now(), options.onWorkerLost), 250);
  evictor.unref();
  cluster.on('message', onMessage);
  cluster.on('exit', onExit);
  // 'disconnect' comes before 'exit' when the IPC channel closes first; forget as early as we can.
  cluster.on('disconnect', onExit);
  return {
    workers: () => [...table.members.values()].map((m) => m.record),
    sessionCount: () => table.sessions.size,
    close: () => {
      clearInterval(sweeper);
      clearInterval(evictor);
      cluster.off('message', onMessage);
      cluster.off('exit', onExit);
      cluster.off('disconnect', onExit);
    },
  };
}
