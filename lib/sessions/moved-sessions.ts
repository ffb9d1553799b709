/**
 * Sessions whose id names a worker that no longer owns them (it died or drained, and another
 * adopted them): session id → owner now. Learned from one store lookup, then routing is free
 * again. Bounded: the oldest entries go first.
 */
const MAX_ENTRIES = 100_000;

export class MovedSessions {
  private readonly owners = new Map<string, string>();

  get(sessionId: string): string | undefined {
    return this.owners.get(sessionId);
  }

  set(sessionId: string, workerId: string): void {
    this.owners.delete(sessionId);
    this.owners.set(sessionId, workerId);
    if (this.owners.size > MAX_ENTRIES) this.owners.delete(this.owners.keys().next().value as string);
  }

  delete(sessionId: string): void {
    this.owners.delete(sessionId);
  }

  clear(): void {
    this.owners.clear();
  }
}
