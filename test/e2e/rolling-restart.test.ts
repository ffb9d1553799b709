/**
 * A rolling deploy of examples/multi-worker: every worker is restarted in turn with SIGTERM (each
 * drains, hands its sessions off and exits; the primary starts a replacement) while six SDK
 * clients keep calling, each request over a new connection. No error reaches a client, and no
 * client initializes again.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { newConnectionFetch } from '../../lib/index';
import { type ExampleCluster, startExampleCluster } from '../helpers/example-cluster';

const WORKERS = 3;
const SESSIONS = 6;

describe('examples/multi-worker rolling restart', () => {
  let cluster: ExampleCluster;
  beforeAll(async () => {
    cluster = await startExampleCluster(WORKERS, { env: { MCP_AFFINITY_DRAIN_MS: '300' } });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test('every worker restarted in turn under traffic on six sessions: 0 errors, the same sessions throughout', async () => {
    const clients = await Promise.all(
      Array.from({ length: SESSIONS }, async () => {
        const transport = new StreamableHTTPClientTransport(new URL('/servers/beta/mcp', cluster.url), { fetch: newConnectionFetch() });
        const client = new Client({ name: 'rolling', version: '1.0.0' });
        await client.connect(transport);
        return { client, transport, sessionId: transport.sessionId };
      }),
    );
    let running = true;
    const errors: string[] = [];
    let calls = 0;
    const traffic = clients.map(async ({ client }) => {
      while (running) {
        try {
          const result = await client.callTool({ name: 'reverse', arguments: { text: 'abc' } });
          if ((result.content as Array<{ text: string }>)[0]?.text !== 'cba') errors.push(`wrong answer ${JSON.stringify(result)}`);
          calls++;
        } catch (error) {
          errors.push(String(error));
        }
      }
    });
    const initial = [...cluster.workers.entries()];
    for (const [index, [, pid]] of initial.entries()) {
      const before = calls;
      process.kill(pid, 'SIGTERM');
      await cluster.waitForOutput(new RegExp(`worker pid ${pid} exited`));
      await cluster.waitForWorkers(WORKERS + index + 1);
      // Traffic went on through this worker's restart.
      while (calls < before + SESSIONS * 3) await new Promise((resolve) => setImmediate(resolve));
    }
    running = false;
    await Promise.all(traffic);
    console.log(`rolling restart: ${calls} calls on ${SESSIONS} sessions, ${errors.length} errors`);
    expect(errors).toEqual([]);
    expect(calls).toBeGreaterThan(SESSIONS * 3 * WORKERS);
    for (const { transport, sessionId } of clients) expect(transport.sessionId).toBe(sessionId);
    await Promise.all(clients.map(({ client }) => client.close()));
  }, 60_000);
});
