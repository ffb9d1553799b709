/**
 * The fuzz test's hardening tests: one property per hardening case (1–5 of the hostile-run
 * findings; 6, a port the example cannot bind, is test/e2e/example-port-in-use.test.ts; 7 and 8,
 * the per-worker bounds on hops and on streams, test/helpers/fuzz-slots.ts), each against the fuzz
 * test's running cluster, each bounded in runs and in time like the main run. After each: no
 * worker lost, and every worker holds the sessions it held before (no case opened or lost one;
 * 7 and 8 open theirs before and end them after).
 */
import fc from 'fast-check';
import type { ExampleCluster } from './example-cluster';
import {
  bodiedGetOrDelete,
  checkBodiedGetOrDelete,
  checkShapedPath,
  checkStalledBody,
  ENDPOINT,
  type FuzzContext,
  MAX_STREAMS,
  shapedPath,
  stalledBody,
} from './fuzz-hardening';
import { checkHeaderlessBatch, checkInFlightId, headerlessBatch, inFlightId, sessionCounts } from './fuzz-sessions';
import {
  CONFORMANCE,
  checkForwardedHolds,
  checkStreamsPastBound,
  forwardedHolds,
  ownedSessions,
  type SlotContext,
  streamsPastBound,
} from './fuzz-slots';

/** FUZZ_RUNS scales every case's runs (2500, the default, is 1×); each case gets half the time limit. */
const SCALE = Number(process.env.FUZZ_RUNS ?? 2500) / 2500;
const TIME_LIMIT_MS = Number(process.env.FUZZ_TIME_LIMIT_MS ?? 40_000) / 2;

export function hardeningCases(get: () => { cluster: ExampleCluster; ctx: FuzzContext }): void {
  /**
   * Runs `check` on `runs` generated values (fewer if the time limit comes first, but never fewer
   * than `least`); returns what each returned.
   */
  async function generated<T, R>(
    arbitrary: fc.Arbitrary<T>,
    check: (ctx: FuzzContext, value: T) => Promise<R>,
    runs: number,
    least: number,
  ): Promise<R[]> {
    const { cluster, ctx } = get();
    const before = await sessionCounts(cluster.url, cluster.workers.size);
    const outcomes: R[] = [];
    const numRuns = Math.max(1, Math.round(runs * SCALE));
    await fc.assert(
      fc.asyncProperty(arbitrary, async (value) => void outcomes.push(await check(ctx, value))),
      { numRuns, interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false },
    );
    expect(outcomes.length).toBeGreaterThanOrEqual(Math.min(numRuns, least));
    expect(cluster.output()).not.toMatch(/exited/);
    for (const pid of cluster.workers.values()) expect(() => process.kill(pid, 0)).not.toThrow();
    expect(await sessionCounts(cluster.url, cluster.workers.size)).toEqual(before);
    const tally = new Map<string, number>();
    for (const outcome of outcomes.flat()) tally.set(String(outcome), (tally.get(String(outcome)) ?? 0) + 1);
    const name = /\b(\d)\. /.exec(expect.getState().currentTestName ?? '')?.[1];
    console.log(`fuzz, hardening case ${name}: ${outcomes.length} cases; ${JSON.stringify(Object.fromEntries(tally))}`);
    return outcomes;
  }
  const timeout = TIME_LIMIT_MS + 30_000;

  test(
    '1. bodies that never arrive (declared, partly sent, on many connections) hold no slot: 408 or closed, never left open',
    async () => {
      const ends = (await generated(stalledBody, checkStalledBody, 30, 8)).flat();
      expect(ends.length).toBeGreaterThan(0);
    },
    timeout,
  );

  test(
    '2. a GET or DELETE declaring a body (any size, by length or chunked) is refused unread with 400, its session untouched',
    async () => {
      await generated(bodiedGetOrDelete, checkBodiedGetOrDelete, 200, 50);
    },
    timeout,
  );

  test(
    '3. a batch without MCP-Protocol-Version follows the negotiated version, and counts each call',
    async () => {
      const outcomes = await generated(headerlessBatch, checkHeaderlessBatch, 200, 50);
      for (const kind of ['refused', 'busy', 'duplicate', 'served']) expect(outcomes).toContain(kind);
    },
    timeout,
  );

  test(
    '4. an id in flight in the session is refused for a second request, and any other id is served',
    async () => {
      const duplicates = await generated(inFlightId, checkInFlightId, 60, 15);
      expect(duplicates).toContain(true);
      expect(duplicates).toContain(false);
    },
    timeout,
  );

  test(
    '5. paths shaped like MCP endpoints (doubled slashes, ;params, %2f, suffixes, dot segments) answer JSON 404',
    async () => {
      await generated(shapedPath, checkShapedPath, 500, 100);
    },
    timeout,
  );

  /** Runs `body` with `count` sessions on `path` owned by each worker, ended afterwards. */
  async function withOwnedSessions(path: string, count: number, capabilities: object, body: (slots: SlotContext) => Promise<void>) {
    const { cluster } = get();
    const slots = await ownedSessions(cluster.url, [...cluster.workers.keys()], path, count, capabilities);
    // A failed case's error is the one reported, not that of ending its sessions.
    await body(slots).catch(async (error: unknown) => {
      await slots.end().catch(() => {});
      throw error;
    });
    await slots.end();
  }

  test(
    '7. calls in flight forwarded from B to their owner A take slots on B only: A serves a request of its own, B is full at its bound',
    () =>
      withOwnedSessions(CONFORMANCE, 3, { sampling: {} }, async (slots) => {
        const outcomes = (await generated(forwardedHolds, (_, c) => checkForwardedHolds(slots, c), 30, 8)).flat();
        expect(outcomes).toContain('receiver full');
        expect(outcomes).toContain('owner over its bound if hops counted');
      }),
    timeout,
  );

  test(
    '8. open streams (GET, 2026-07-28 listen) are bounded per worker: past maxOpenStreams a 503 JSON-RPC error, and a closed stream frees its slot',
    () =>
      withOwnedSessions(ENDPOINT.alpha, MAX_STREAMS + 3, {}, async (slots) => {
        const outcomes = (await generated(streamsPastBound, (_, c) => checkStreamsPastBound(slots, c), 30, 8)).flat();
        for (const kind of ['get', 'listen']) expect(outcomes).toContain(`${kind} refused`);
      }),
    timeout,
  );
}
