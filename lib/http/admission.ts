/**
 * Bounded work per worker: requests in flight (streams excluded) are counted until their response
 * closes, and a drain can wait for them to settle.
 */
import type { ServerResponse } from 'node:http';

export class Admission {
  private inFlightCount = 0;
  private readonly settledWaiters = new Set<() => void>();

  constructor(readonly maxConcurrentRequests: number) {}

  /** Served here but counted elsewhere (a hop: its receiver holds the slot); a drain waits for them. */
  private trackedCount = 0;

  /** Counts a request until its response closes; `false`, counting nothing, when at the bound. */
  admit(res: ServerResponse): boolean {
    if (this.inFlightCount >= this.maxConcurrentRequests) return false;
    this.inFlightCount++;
    res.once('close', () => {
      this.inFlightCount--;
      this.wakeIfSettled();
    });
    return true;
  }

  /** Follows a request that takes no slot here until its response closes. */
  track(res: ServerResponse): void {
    this.trackedCount++;
    res.once('close', () => {
      this.trackedCount--;
      this.wakeIfSettled();
    });
  }

  private wakeIfSettled(): void {
    if (this.inFlightCount === 0 && this.trackedCount === 0) for (const wake of [...this.settledWaiters]) wake();
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  /** Resolves when nothing is in flight, hops served here included. */
  settled(): Promise<void> {
    if (this.inFlightCount === 0 && this.trackedCount === 0) return Promise.resolve();
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
