/**
 * kill -9 of workers of examples/multi-worker under traffic on new connections: every request gets
 * an answer or a connection error (none hangs: node:cluster's round robin could hand a connection to
 * the dying worker and hold it forever; the example's workers accept from one shared socket), and the
 * sessions of the killed workers go on (continuity). How fast is judged in bench/, not here.
 */

import { type ExampleCluster, startExampleCluster } from '../helpers/example-cluster';
import { initializeBody, rpc } from '../helpers/gateway';

const WORKERS = 3;

describe('examples/multi-worker, workers killed under traffic', () => {
  let cluster: ExampleCluster;
  beforeAll(async () => {
    cluster = await startExampleCluster(WORKERS);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test('three kill -9 under traffic: every request answered or refused, no hang, sessions go on', async () => {
    const url = `${cluster.url}/servers/beta/mcp`;
    const sessions: string[] = [];
    for (let i = 0; i < 6; i++) {
      const init = await rpc(url, initializeBody(i));
      sessions.push(String(init.headers['mcp-session-id']));
      await rpc(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': sessions[i]! });
    }
    const outcomes: Record<string, number> = {};
    const count = (key: string) => void (outcomes[key] = (outcomes[key] ?? 0) + 1);
    let running = true;
    const traffic = sessions.map(async (sessionId) => {
      for (let n = 0; running; n++) {
        await rpc(url, { jsonrpc: '2.0', id: n, method: 'tools/list' }, { 'mcp-session-id': sessionId }).then(
          (r) => count(String(r.status)),
          (error: NodeJS.ErrnoException) => count(error.code ?? 'error'),
        );
      }
    });
    for (let k = 0; k < 3; k++) {
      const [, pid] = [...cluster.workers.entries()].at(-1)!;
      const before = Object.values(outcomes).reduce((a, b) => a + b, 0);
      process.kill(pid, 'SIGKILL');
      await cluster.waitForOutput(new RegExp(`worker pid ${pid} exited`));
      await cluster.waitForWorkers(WORKERS + k + 1);
      while (Object.values(outcomes).reduce((a, b) => a + b, 0) < before + 30) await new Promise((r) => setImmediate(r));
    }
    running = false;
    await Promise.all(traffic);
    console.log(`kill -9 under traffic: ${JSON.stringify(outcomes)}`);
    // Only answers (200, or a clean 503 for a request the dying worker had taken) and connection errors.
    for (const key of Object.keys(outcomes)) expect(['200', '503', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE']).toContain(key);
    // Every session still answers afterwards, none re-initialized.
    for (const sessionId of sessions) {
      expect((await rpc(url, { jsonrpc: '2.0', id: 'after', method: 'tools/list' }, { 'mcp-session-id': sessionId })).status).toBe(200);
    }
  }, 60_000);
});
