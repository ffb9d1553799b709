/** The nonces of the hops a worker accepted, so a captured hop cannot be replayed. */
/**
 * Nonces seen within the clock window. A nonce outside the window is refused as stale before this
 * cache is consulted, so entries can be dropped once they are older than the window.
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly windowMs: number) {
    this.sweeper = setInterval(() => this.sweep(Date.now()), Math.max(1000, windowMs));
    this.sweeper.unref();
  }

  /** Records the nonce; returns `false` when it was already seen. */
  remember(nonce: string, timestamp: number): boolean {
    if (this.seen.has(nonce)) return false;
    this.seen.set(nonce, timestamp + 2 * this.windowMs);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  private sweep(now: number): void {
    for (const [nonce, expiry] of this.seen) if (expiry < now) this.seen.delete(nonce);
  }

  close(): void {
    clearInterval(this.sweeper);
    this.seen.clear();
  }
}
