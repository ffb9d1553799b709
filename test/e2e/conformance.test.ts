/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance, server mode, every server
 * scenario: `--suite all`) against the example's `conformance` virtual server, twice:
 *
 * (a) directly against examples/multi-worker run as a one-worker cluster: every request reaches
 *     the session's owner, nothing is forwarded (checked on GET /metrics);
 * (b) through a front that sends `initialize` to worker A and every request carrying a session id
 *     to worker B (test/fixtures/conformance-front.mjs), so each session request, SSE streams and
 *     the client's answers to sampling and elicitation included, crosses from B to A (checked on
 *     the `mcp-affinity-*` response headers).
 *
 * Both runs must end with `Total: N passed, 0 failed`, N > 0. Built package required.
 */
import { newConnectionFetch } from '../../lib/index';
import { type FrontStat, runSuite, type SuiteRun, startFront } from '../helpers/conformance';
import { type ExampleCluster, startExampleCluster } from '../helpers/example-cluster';

const ENDPOINT = '/servers/conformance/mcp';
const TEST_TIMEOUT_MS = 180_000;

function expectClean(run: SuiteRun): void {
  // On failure, show which scenarios failed and the suite's own explanation.
  // On failure: the failing scenarios and their messages, not the tail of the process output.
  if (run.failed !== 0 || run.passed === 0) {
    const why =
      run.failures.length > 0
        ? run.failures.join('\n')
        : run.output
            .split('\n')
            .filter((l) => l.startsWith('✗'))
            .join('\n');
    throw new Error(`conformance suite did not pass (${run.passed} passed, ${run.failed} failed):\n${why}`);
  }
  expect(run.failed).toBe(0);
  expect(run.passed).toBeGreaterThan(0);
  expect(run.exitCode).toBe(0);
  expect(run.scenarios.length).toBeGreaterThanOrEqual(30);
  expect(run.scenarios.filter((line) => !line.startsWith('✓'))).toEqual([]);
}

describe('official MCP conformance suite', () => {
  test(
    '(a) directly against the example (one worker: every request reaches the owner)',
    async () => {
      let cluster: ExampleCluster | undefined;
      try {
        cluster = await startExampleCluster(1);
        const run = await runSuite(`${cluster.url}${ENDPOINT}`);
        console.log(`conformance (a) direct: Total: ${run.passed} passed, ${run.failed} failed; ${run.scenarios.length} scenarios`);
        expectClean(run);

        // Nothing crossed: the worker served every session request itself.
        const metrics = await (await newConnectionFetch()(`${cluster.url}/metrics`)).text();
        expect(metrics).not.toMatch(/^mcp_affinity_forwards_total\{[^}]*\} [1-9]/m);
        expect(metrics).toMatch(/^mcp_affinity_owner_lookups_total\{worker="\w+",result="owned"\} [1-9]/m);
      } finally {
        await cluster?.stop();
      }
    },
    TEST_TIMEOUT_MS,
  );

  test(
    '(b) every session request crosses workers (initialize on A, everything else received by B)',
    async () => {
      const ready = await startFront();
      try {
        const run = await runSuite(`${ready.url}${ENDPOINT}`);
        const stats: FrontStat[] = await ready.stats();
        const crossed = stats.filter((s) => s.hasSession);
        console.log(
          `conformance (b) cross-worker: Total: ${run.passed} passed, ${run.failed} failed; ${run.scenarios.length} scenarios; ` +
            `${crossed.length} session requests, ${crossed.filter((s) => s.forwarded).length} forwarded ${ready.b} → ${ready.a}`,
        );
        expectClean(run);

        // Sessions were created on A...
        const initializes = stats.filter((s) => !s.hasSession && s.status === 200);
        expect(initializes.length).toBeGreaterThan(0);
        for (const s of initializes) expect(s).toMatchObject({ servedBy: ready.a, forwarded: false });
        // ...and every request of a session was received by B and served by A, over the hop:
        // POSTs (requests, and the client's answers to sampling and elicitation) and GET streams.
        expect(crossed.length).toBeGreaterThan(0);
        for (const s of crossed) expect(s).toMatchObject({ receivedBy: ready.b, servedBy: ready.a, forwarded: true });
        expect(crossed.filter((s) => s.method === 'GET').length).toBeGreaterThan(0);
        expect(crossed.filter((s) => s.method === 'POST' && s.status === 202).length).toBeGreaterThan(0);
      } finally {
        await ready.stop();
      }
    },
    TEST_TIMEOUT_MS,
  );
});
