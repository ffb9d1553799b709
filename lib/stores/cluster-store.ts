/**
 * The embedded store for `node:cluster`: no external service.
 *
 * The primary (`setupClusterPrimary()`, cluster-primary.ts) keeps the table of workers and
 * sessions and pushes the worker table to every worker whenever it changes. Workers answer
 * `getWorker` from their copy, so routing costs no IPC round trip; claims, adoptions and snapshot
 * writes ask the primary. A worker that exits or goes silent past its heartbeat leaves the table
 * at once; its sessions stay there for another worker to adopt (session continuity).
 */
import cluster from 'node:cluster';
import { ErrorCodes, McpAffinityError } from '../errors.js';
import { checkOptionsObject, positiveInteger } from '../options/validations.js';
import type { GatewayEvent, SessionRecord, SessionStore, WorkerRecord } from '../types.js';
import { isOurs, TAG, type ToPrimary, type ToWorker } from './cluster-messages.js';

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

  async listSessions(filter: { principal: string }): Promise<SessionRecord[]> {
    return ((await this.ask((requestId) => ({ tag: TAG, type: 'list-sessions', requestId, principal: filter.principal }))) ??
      []) as SessionRecord[];
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
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
