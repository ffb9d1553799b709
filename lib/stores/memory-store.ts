import { ErrorCodes, McpAffinityError } from '../errors.js';
import type { GatewayEvent, SessionRecord, SessionStore, WorkerRecord } from '../types.js';

/**
 * Keeps workers and sessions in this process's memory. Right for one process (or several
 * gateways inside one process, as tests run them); a `node:cluster` needs the embedded cluster
 * store, many hosts need `RedisStore`.
 */
export class MemoryStore implements SessionStore {
  private readonly workers = new Map<string, WorkerRecord>();
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly listeners = new Set<(event: GatewayEvent) => void>();

  async registerWorker(worker: WorkerRecord): Promise<void> {
    const existing = this.workers.get(worker.workerId);
    if (existing && (existing.internalUrl !== worker.internalUrl || existing.socketPath !== worker.socketPath)) {
      throw new McpAffinityError(
        ErrorCodes.INVALID_OPTION,
        `MemoryStore: worker id ${worker.workerId} is already registered by another live worker (${existing.internalUrl}); leave workerId unset so each worker gets its own.`,
      );
    }
    this.workers.set(worker.workerId, { ...worker });
  }

  async deregisterWorker(workerId: string): Promise<void> {
    this.workers.delete(workerId);
    for (const [id, record] of this.sessions) if (record.workerId === workerId) this.sessions.delete(id);
  }

  getWorker(workerId: string): WorkerRecord | undefined {
    return this.workers.get(workerId);
  }

  async claimSession(record: SessionRecord): Promise<boolean> {
    if (this.sessions.has(record.sessionId)) return false;
    this.sessions.set(record.sessionId, { epoch: 0, ...record });
    return true;
  }

  getSession(sessionId: string): SessionRecord | undefined {
    return this.sessions.get(sessionId);
  }

  async releaseSession(sessionId: string, workerId: string): Promise<void> {
    if (this.sessions.get(sessionId)?.workerId === workerId) this.sessions.delete(sessionId);
  }

  async listSessions(filter: { principal: string }): Promise<SessionRecord[]> {
    return [...this.sessions.values()].filter((r) => r.snapshot?.principal === filter.principal);
  }

  async saveSession(record: SessionRecord): Promise<boolean> {
    const current = this.sessions.get(record.sessionId);
    if (!current || current.workerId !== record.workerId || (current.epoch ?? 0) !== (record.epoch ?? 0)) return false;
    this.sessions.set(record.sessionId, { ...current, ...(record.snapshot === undefined ? {} : { snapshot: record.snapshot }) });
    return true;
  }

  async adoptSession(sessionId: string, workerId: string, unreachable?: string): Promise<SessionRecord | undefined> {
    const current = this.sessions.get(sessionId);
    if (!current) return undefined;
    const ownerLive = this.workers.has(current.workerId) && current.workerId !== unreachable;
    if (current.workerId === workerId || ownerLive) return current;
    const adopted = { ...current, workerId, epoch: (current.epoch ?? 0) + 1 };
    this.sessions.set(sessionId, adopted);
    return adopted;
  }

  async retireWorker(workerId: string): Promise<void> {
    this.workers.delete(workerId);
  }

  async publish(event: GatewayEvent): Promise<void> {
    for (const listener of [...this.listeners]) queueMicrotask(() => listener(event));
  }

  subscribe(listener: (event: GatewayEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Workers currently registered (for tests and diagnostics). */
  listWorkers(): WorkerRecord[] {
    return [...this.workers.values()];
  }

  async close(): Promise<void> {
    this.workers.clear();
    this.sessions.clear();
    this.listeners.clear();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
