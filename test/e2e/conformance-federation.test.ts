/**
 * The official MCP conformance suite (`--suite all`) through federation: the example's
 * `conformance` virtual server, served by a separate process (the example, one worker), is the
 * upstream of a virtual server `fed` of another gateway (MCP_UPSTREAMS), and the suite runs
 * against /servers/fed/mcp, twice:
 *
 * (a) the example, one worker: every request reaches the session's owner, which calls the upstream;
 * (b) the front of test/fixtures/conformance-front.mjs: every session request is received by
 *     worker B and forwarded to A, which calls the upstream.
 *
 * Every scenario passes both ways: server-to-client requests (sampling, elicitation) and the
 * upstream's log notifications are relayed to the downstream client on the call's own stream, and
 * its answers (arriving at either worker) go back to the upstream. On a failure the assertion shows
 * the failed checks with the suite's messages. Built package required.
 */
import { newConnectionFetch } from '../../lib/index';
import { runSuite, type SuiteRun, startFront } from '../helpers/conformance';
import { type ExampleCluster, startExampleCluster } from '../helpers/example-cluster';

const ENDPOINT = '/servers/fed/mcp';
const TEST_TIMEOUT_MS = 180_000;

function expectNoFailures(run: SuiteRun): void {
  const failedScenarios = run.scenarios.filter((line) => !line.startsWith('✓'));
  const why = `${run.passed} passed, ${run.failed} failed:\n${run.failures.join('\n')}\n${run.scenarios.join('\n')}`;
  expect({ failedScenarios, failures: run.failures, why }).toEqual({ failedScenarios: [], failures: [], why });
  expect(run.failed).toBe(0);
  expect(run.passed).toBeGreaterThan(0);
  expect(run.scenarios.length).toBeGreaterThanOrEqual(30);
}

describe('official MCP conformance suite through federation', () => {
  let upstream: ExampleCluster | undefined;
  let upstreamsEnv: Record<string, string>;
  beforeAll(async () => {
    upstream = await startExampleCluster(1);
    upstreamsEnv = { MCP_UPSTREAMS: JSON.stringify({ fed: { url: `${upstream.url}/servers/conformance/mcp` } }) };
  });
  afterAll(async () => {
    await upstream?.stop();
  });

  /** Session requests the upstream served (each gateway worker's session there included). */
  const upstreamServed = async (): Promise<number> => {
    const metrics = await (await newConnectionFetch()(`${upstream!.url}/metrics`)).text();
    return [...metrics.matchAll(/^mcp_affinity_owner_lookups_total\{[^}]*result="owned"\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  };

  test(
    '(a) directly: the example, one worker, federating the upstream',
    async () => {
      let gateway: ExampleCluster | undefined;
      try {
        gateway = await startExampleCluster(1, { env: upstreamsEnv });
        const before = await upstreamServed();
        const run = await runSuite(`${gateway.url}${ENDPOINT}`);
        console.log(
          `conformance through federation (a) direct: Total: ${run.passed} passed, ${run.failed} failed; ${run.scenarios.length} scenarios`,
        );
        expectNoFailures(run);
        // The suite's calls reached the upstream process, over the gateway's own session there.
        expect((await upstreamServed()) - before).toBeGreaterThanOrEqual(20);
        const metrics = await (await newConnectionFetch()(`${gateway.url}/metrics`)).text();
        expect(metrics).not.toMatch(/^mcp_affinity_forwards_total\{[^}]*\} [1-9]/m);
      } finally {
        await gateway?.stop();
      }
    },
    TEST_TIMEOUT_MS,
  );

  test(
    '(b) every session request crosses workers before it reaches the upstream',
    async () => {
      const front = await startFront(upstreamsEnv);
      try {
        const before = await upstreamServed();
        const run = await runSuite(`${front.url}${ENDPOINT}`);
        const stats = await front.stats();
        const crossed = stats.filter((s) => s.hasSession);
        console.log(
          `conformance through federation (b) cross-worker: Total: ${run.passed} passed, ${run.failed} failed; ${run.scenarios.length} scenarios; ` +
            `${crossed.length} session requests, ${crossed.filter((s) => s.forwarded).length} forwarded ${front.b} → ${front.a}`,
        );
        expectNoFailures(run);
        expect(crossed.length).toBeGreaterThan(0);
        for (const s of crossed) expect(s).toMatchObject({ receivedBy: front.b, servedBy: front.a, forwarded: true });
        expect(crossed.filter((s) => s.method === 'GET').length).toBeGreaterThan(0);
        expect((await upstreamServed()) - before).toBeGreaterThanOrEqual(20);
      } finally {
        await front.stop();
      }
    },
    TEST_TIMEOUT_MS,
  );
});
