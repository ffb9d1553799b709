/**
 * The embedded store for `node:cluster`: no external service.
 *
 * The primary keeps the table of workers and sessions and pushes the worker table to every worker
 * whenever it changes (a worker registered, deregistered, or exited). Workers answer `getWorker`
 * from their copy, so routing costs no IPC round trip; only claims (one per new session) ask the
 * primary. When a worker process exits, the primary drops it and its sessions at once and tells
 * the others, so its sessions answer 404 instead of being routed to a dead process.
 */
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { ErrorCodes, McpAffinityError } from '../errors.js';
import { checkOptionsObject, positiveInteger } from '../options/validations.js';
import type { GatewayEvent, SessionRecord, SessionStore, WorkerRecord } from '../types.js';

const TAG = 'express-mcp-affinity';

type ToPrimary =
  | { tag: typeof TAG; type: 'register'; worker: WorkerRecord; ttlMs: number }
  | { tag: typeof TAG; type: 'beat'; worker: WorkerRecord; ttlMs: number }
  | { tag: typeof TAG; type: 'deregister'; workerId: string }
  | { tag: typeof TAG; type: 'claim'; requestId: number; record: SessionRecord }
  | { tag: typeof TAG; type: 'get-session'; requestId: number; sessionId: string }
  | { tag: typeof TAG; type: 'release'; sessionId: string; workerId: string }
  | { tag: typeof TAG; type: 'save'; requestId: number; record: SessionRecord }
  | { tag: typeof TAG; type: 'adopt'; requestId: number; sessionId: string; workerId: string; unreachable?: string }
  | { tag: typeof TAG; type: 'retire'; workerId: string }
  | { tag: typeof TAG; type: 'publish'; event: GatewayEvent };

type ToWorker =
  | { tag: typeof TAG; type: 'members'; members: WorkerRecord[] }
  | { tag: typeof TAG; type: 'register-refused'; workerId: string; reason: string }
  | { tag: typeof TAG; type: 'reply'; requestId: number; value: unknown }
  | { tag: typeof TAG; type: 'event'; event: GatewayEvent };

function isOurs<T extends { tag: string }>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && (message as { tag?: unknown }).tag === TAG;
}

export interface ClusterStoreOptions {
  /**
   * How long `registerWorker` and claims wait for the primary, in milliseconds.
   * @default 5000
   */
  timeoutMs?: number;
  /**
   * How often this worker tells the primary it is alive, in milliseconds. The primary counts a
   * worker that is silent for `heartbeatTtlMs` (a paused process) as gone, and its sessions as
   * adoptable.
   * @default 1000
   */
  heartbeatIntervalMs?: number;
  /**
   * Silence after which the primary counts this worker as gone, in milliseconds.
   * @default 3 × heartbeatIntervalMs
   */
  heartbeatTtlMs?: number;
}

/** The worker side of the embedded cluster store. Create it in a cluster worker. */
export class ClusterStore implements SessionStore {
  private members = new Map<string, WorkerRecord>();
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private nextRequestId = 1;
  private readonly timeoutMs: number;
  private registering: { workerId: string; resolve: () => void; reject: (e: Error) => void } | undefined;
  private readonly onMessage = (message: unknown): void => this.receive(message);
  private readonly listeners = new Set<(event: GatewayEvent) => void>();
  private readonly heartbeatIntervalMs: number;
  private readonly heartbeatTtlMs: number;
  private heartbeat: NodeJS.Timeout | undefined;
  private current: { workerId: string; until: number; lapses: number } | undefined;

  constructor(options: ClusterStoreOptions = {}) {
    if (!cluster.isWorker || typeof process.send !== 'function') {
      throw new McpAffinityError(
        ErrorCodes.INVALID_OPTION,
        'ClusterStore: created outside a node:cluster worker; use it only in workers (the default store does this for you), or pass `store: new MemoryStore()` for a single process.',
      );
    }
    checkOptionsObject('ClusterStore', options, ['timeoutMs', 'heartbeatIntervalMs', 'heartbeatTtlMs']);
    this.timeoutMs = positiveInteger('ClusterStore', 'timeoutMs', options.timeoutMs, 5000);
    this.heartbeatIntervalMs = positiveInteger('ClusterStore', 'heartbeatIntervalMs', options.heartbeatIntervalMs, 1000);
    this.heartbeatTtlMs = positiveInteger('ClusterStore', 'heartbeatTtlMs', options.heartbeatTtlMs, 3 * this.heartbeatIntervalMs);
    process.on('message', this.onMessage);
  }

  private receive(message: unknown): void {
    if (!isOurs<ToWorker>(message)) return;
    if (message.type === 'members') {
      this.members = new Map(message.members.map((m) => [m.workerId, m]));
      if (this.registering && this.members.has(this.registering.workerId)) {
        this.registering.resolve();
        this.registering = undefined;
      }
    } else if (message.type === 'register-refused') {
      this.registering?.reject(
        new McpAffinityError(
          ErrorCodes.INVALID_OPTION,
          `ClusterStore: the primary refused worker id ${message.workerId}: ${message.reason}`,
        ),
      );
      this.registering = undefined;
    } else if (message.type === 'event') {
      for (const listener of [...this.listeners]) listener(message.event);
    } else if (message.type === 'reply') {
      const waiting = this.pending.get(message.requestId);
      if (!waiting) return;
      this.pending.delete(message.requestId);
      clearTimeout(waiting.timer);
      waiting.resolve(message.value);
    }
  }

  private send(message: ToPrimary): void {
    process.send!(message);
  }

  private ask(build: (requestId: number) => ToPrimary): Promise<unknown> {
    const requestId = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new McpAffinityError(ErrorCodes.STORE_UNAVAILABLE, `ClusterStore: the primary did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(requestId, { resolve, reject, timer });
      this.send(build(requestId));
    });
  }

  registerWorker(worker: WorkerRecord): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.registering = undefined;
        reject(
          new McpAffinityError(
            ErrorCodes.STORE_UNAVAILABLE,
            `ClusterStore: the cluster primary did not acknowledge worker ${worker.workerId} within ${this.timeoutMs} ms; call setupClusterPrimary() in the primary before forking workers.`,
          ),
        );
      }, this.timeoutMs);
      const sentAt = Date.now();
      this.registering = {
        workerId: worker.workerId,
        resolve: () => (clearTimeout(timer), this.startHeartbeat(worker, sentAt), resolve()),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.send({ tag: TAG, type: 'register', worker, ttlMs: this.heartbeatTtlMs });
    });
  }

  /** Beats until deregistered; each beat sent extends the lease (the primary hears it later, never earlier). */
  private startHeartbeat(worker: WorkerRecord, sentAt: number): void {
    this.stopHeartbeat();
    const lease = { workerId: worker.workerId, until: sentAt + this.heartbeatTtlMs, lapses: 0 };
    this.current = lease;
    this.heartbeat = setInterval(() => {
      if (!process.connected) return;
      const at = Date.now();
      // The lease ran out before this beat: the process was paused (the primary may have counted it gone).
      if (at > lease.until) lease.lapses++;
      this.send({ tag: TAG, type: 'beat', worker, ttlMs: this.heartbeatTtlMs });
      lease.until = at + this.heartbeatTtlMs;
    }, this.heartbeatIntervalMs);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.current = undefined;
  }

  /** This worker's lease with the primary (see `SessionStore.lease`). */
  lease(workerId: string): { until: number; lapses: number } | undefined {
    return this.current?.workerId === workerId ? this.current : undefined;
  }

  async deregisterWorker(workerId: string): Promise<void> {
    this.stopHeartbeat();
    this.members.delete(workerId);
    if (process.connected) this.send({ tag: TAG, type: 'deregister', workerId });
  }

  getWorker(workerId: string): WorkerRecord | undefined {
    return this.members.get(workerId);
  }

  async claimSession(record: SessionRecord): Promise<boolean> {
    return (await this.ask((requestId) => ({ tag: TAG, type: 'claim', requestId, record }))) === true;
  }

  async getSession(sessionId: string): Promise<SessionRecord | undefined> {
    return ((await this.ask((requestId) => ({ tag: TAG, type: 'get-session', requestId, sessionId }))) ?? undefined) as
      | SessionRecord
      | undefined;
  }

  async releaseSession(sessionId: string, workerId: string): Promise<void> {
    if (process.connected) this.send({ tag: TAG, type: 'release', sessionId, workerId });
  }

  async saveSession(record: SessionRecord): Promise<boolean> {
    return (await this.ask((requestId) => ({ tag: TAG, type: 'save', requestId, record }))) === true;
  }

  async adoptSession(sessionId: string, workerId: string, unreachable?: string): Promise<SessionRecord | undefined> {
    const record = await this.ask((requestId) => ({ tag: TAG, type: 'adopt', requestId, sessionId, workerId, unreachable }));
    return (record ?? undefined) as SessionRecord | undefined;
  }

  /** Leaves the cluster but keeps this worker's sessions in the primary, for others to adopt. */
  async retireWorker(workerId: string): Promise<void> {
    this.stopHeartbeat();
    this.members.delete(workerId);
    if (process.connected) this.send({ tag: TAG, type: 'retire', workerId });
  }

  /** Sent through the primary to every worker, this one included. */
  async publish(event: GatewayEvent): Promise<void> {
    if (process.connected) this.send({ tag: TAG, type: 'publish', event });
  }

  subscribe(listener: (event: GatewayEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.stopHeartbeat();
    this.listeners.clear();
    process.off('message', this.onMessage);
    for (const { timer, reject } of this.pending.values()) {
      clearTimeout(timer);
      reject(new McpAffinityError(ErrorCodes.STORE_UNAVAILABLE, 'ClusterStore: closed'));
    }
    this.pending.clear();
  }
}

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
