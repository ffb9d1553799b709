/**
 * Waiting on events, not on time. Prefer a promise resolved by the event itself (`once`, or a
 * `deferred()` resolved from a handler); `waitFor` polls and is only for state nothing announces
 * (a child process, redis).
 */
import type { EventEmitter } from 'node:events';
import { once as onceEvent } from 'node:events';

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** A promise with its resolvers, for a test handler to settle when the event happens. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Resolves with the arguments of the next `event` on `emitter` (rejects on 'error'). */
export const once = (emitter: EventEmitter, event: string): Promise<unknown[]> => onceEvent(emitter, event);

/**
 * Polls `predicate` every `intervalMs` until it is truthy; throws after `timeoutMs`. The timeout
 * only turns a hang into a readable failure: it is not a statement about speed.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  { timeoutMs = 5000, intervalMs = 20, what = 'condition' }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`waitFor: ${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves with the first match of `pattern` in what a stream printed so far or prints next. */
export function waitForOutput(
  streams: NodeJS.ReadableStream[],
  pattern: RegExp,
  { timeoutMs = 10_000, output = () => '' }: { timeoutMs?: number; output?: () => string } = {},
): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let seen = output();
    const done = (): void => {
      clearTimeout(timer);
      for (const s of streams) s.off('data', onData);
    };
    const onData = (chunk: Buffer | string): void => {
      seen += chunk.toString();
      const match = seen.match(pattern);
      if (match) done(), resolve(match);
    };
    const timer = setTimeout(() => (done(), reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${seen}`))), timeoutMs);
    for (const s of streams) s.on('data', onData);
    onData('');
  });
}

/**
 * Fake timers for the clock alone, at `now`: `Date.now()` jumps, while the servers, sockets and
 * timers of a real-process test keep running on real time. Undo with `jest.useRealTimers()`.
 */
export function fakeClockOnly(now: number): void {
  jest.useFakeTimers({
    now,
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
  });
}
