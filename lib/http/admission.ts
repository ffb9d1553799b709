/**
 * Bounded work per worker: requests in flight (streams excluded) are counted until their response
 * closes, and a drain can wait for them to settle.
 */
import type { ServerResponse } from 'node:http';

export class Admission {
  private inFlightCount = 0;
  private readonly settledWaiters = new Set<() => void>();

  constructor(readonly maxConcurrentRequests: number) {}

  /** Counts a request until its response closes; `false`, counting nothing, when at the bound. */
  admit(res: ServerResponse): boolean {
    if (this.inFlightCount >= this.maxConcurrentRequests) return false;
    this.inFlightCount++;
    res.once('close', () => {
      this.inFlightCount--;
      if (this.inFlightCount === 0) for (const wake of [...this.settledWaiters]) wake();
    });
    return true;
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  /** Resolves when nothing is in flight. */
  settled(): Promise<void> {
    if (this.inFlightCount === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        this.settledWaiters.delete(wake);
        resolve();
      };
      this.settledWaiters.add(wake);
    });
  }

  /** Wakes every waiter (on close). */
  release(): void {
    for (const wake of [...this.settledWaiters]) wake();
  }
}
