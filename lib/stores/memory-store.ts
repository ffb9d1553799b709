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
    this.sessions.set(record.sessionId, { ...record });
    return true;
  }

  getSession(sessionId: string): SessionRecord | undefined {
    return this.sessions.get(sessionId);
  }

  async releaseSession(sessionId: string, workerId: string): Promise<void> {
    if (this.sessions.get(sessionId)?.workerId === workerId) this.sessions.delete(sessionId);
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
}
