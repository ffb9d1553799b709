/**
 * examples/multi-worker as a real node:cluster (three worker processes, embedded store), driven by
 * the MCP SDK client with a new connection per request, so the primary spreads requests over the
 * workers and most of them must cross to the session's owner.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { newConnectionFetch } from '../../lib/index';
import { type ExampleCluster, ROOT, startExampleCluster } from '../helpers/example-cluster';

const WORKERS = 3;

interface Observed {
  client: Client;
  transport: StreamableHTTPClientTransport;
  /** The worker that received each request (response header set by the receiving worker). */
  receivedBy: string[];
}

async function connect(cluster: ExampleCluster, endpoint: string): Promise<Observed> {
  const fetchNew = newConnectionFetch();
  const receivedBy: string[] = [];
  const transport = new StreamableHTTPClientTransport(new URL(endpoint, cluster.url), {
    fetch: async (url, init) => {
      const response = await fetchNew(url, init);
      const receiver = response.headers.get('mcp-affinity-received-by');
      if (receiver) receivedBy.push(receiver);
      return response;
    },
  });
  const client = new Client({ name: 'e2e', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport, receivedBy };
}

const whoami = async (session: Observed): Promise<{ workerId: string; pid: number }> => {
  const result = await session.client.callTool({ name: 'whoami', arguments: {} });
  return JSON.parse((result.content as Array<{ text: string }>)[0]!.text);
};

const toolNames = async (session: Observed): Promise<string[]> => (await session.client.listTools()).tools.map((t) => t.name).sort();

describe('examples/multi-worker as a real cluster', () => {
  let cluster: ExampleCluster;

  beforeAll(async () => {
    cluster = await startExampleCluster(WORKERS);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  test('requests cross workers; the owner always executes; scoping holds on every request', async () => {
    const beta = await connect(cluster, '/servers/beta/mcp');
    const owner = beta.transport.sessionId!.split('.')[0]!;
    expect(cluster.workers.has(owner)).toBe(true);

    for (let i = 0; i < 12; i++) {
      expect((await whoami(beta)).workerId).toBe(owner);
      expect(await toolNames(beta)).toEqual(['reverse', 'whoami']);
    }
    // Requests really landed on different workers, and most on one that is not the owner.
    const receivers = new Set(beta.receivedBy);
    expect(receivers.size).toBeGreaterThanOrEqual(2);
    expect(beta.receivedBy.filter((w) => w !== owner).length).toBeGreaterThan(0);
    for (const w of receivers) expect(cluster.workers.has(w)).toBe(true);

    // Another server's tool does not exist in this session.
    const foreign = await beta.client.callTool({ name: 'echo', arguments: { text: 'x' } }).then(
      (r) => r,
      (e: Error) => e,
    );
    expect(foreign instanceof Error ? foreign.message : JSON.stringify(foreign)).toMatch(/Unknown tool: echo/);

    await beta.transport.terminateSession();
    await beta.client.close();
  });

  test('regression: alpha’s tools/list answered through a non-owner is exactly alpha’s tools', async () => {
    const alpha = await connect(cluster, '/servers/alpha/mcp');
    const owner = alpha.transport.sessionId!.split('.')[0]!;
    let crossed = 0;
    for (let i = 0; i < 12; i++) {
      expect(await toolNames(alpha)).toEqual(['add', 'echo']);
      if (alpha.receivedBy.at(-1) !== owner) crossed++;
    }
    expect(crossed).toBeGreaterThan(0);
    const unscoped = await connect(cluster, '/mcp');
    expect(await toolNames(unscoped)).toEqual(['add', 'echo', 'reverse', 'whoami']);
    await Promise.all([alpha.client.close(), unscoped.client.close()]);
  });

  test('GET /metrics answers with every worker’s metrics, aggregated by the primary', async () => {
    const text = await (await newConnectionFetch()(`${cluster.url}/metrics`)).text();
    const forwardsByWorker = [...text.matchAll(/^mcp_affinity_forwards_total\{worker="(\w+)",outcome="ok"\} (\d+)/gm)];
    // Earlier tests crossed workers: several workers forwarded, and the lines name them.
    expect(new Set(forwardsByWorker.map((m) => m[1])).size).toBeGreaterThanOrEqual(2);
    for (const [, worker, count] of forwardsByWorker) {
      expect(cluster.workers.has(worker!)).toBe(true);
      expect(Number(count)).toBeGreaterThan(0);
    }
    expect(text).toMatch(/^mcp_affinity_owner_lookups_total\{worker="\w+",result="owned"\} [1-9]/m);
    expect(text).toMatch(/^mcp_affinity_forward_duration_seconds_count\{worker="\w+"\} [1-9]/m);
    expect(text).toMatch(/^mcp_affinity_sessions_ended_total\{worker="\w+",reason="deleted"\} [1-9]/m);
    expect(text).toMatch(/^# TYPE mcp_affinity_sessions_owned gauge/m);
  });

  test('npm run demo prints receiving and executing workers', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, 'examples/multi-worker/demo.mjs')], {
      cwd: ROOT,
      env: { ...process.env, MCP_URL: cluster.url, CALLS: '6' },
    });
    expect(stdout).toMatch(/tools\/list on beta: reverse, whoami/);
    const calls = [...stdout.matchAll(/received by (\S+), executed by (\S+) /g)];
    expect(calls).toHaveLength(6);
    expect(new Set(calls.map((m) => m[2])).size).toBe(1);
    expect(stdout).toMatch(/tools\/list on alpha, received by \S+, answered by owner \S+: echo, add\n/);
  });

  test('SIGKILL of a session’s owner: the same client goes on through another worker, with the same session id and scope', async () => {
    const beta = await connect(cluster, '/servers/beta/mcp');
    const sessionId = beta.transport.sessionId;
    const owner = await whoami(beta);
    const before = cluster.workers.size;
    process.kill(owner.pid, 'SIGKILL');
    // The primary saw the exit (and stopped handing connections to the dead worker).
    await cluster.waitForOutput(new RegExp(`worker pid ${owner.pid} exited`));

    const next = await whoami(beta);
    expect(next.workerId).not.toBe(owner.workerId);
    expect(beta.transport.sessionId).toBe(sessionId);
    expect(await toolNames(beta)).toEqual(['reverse', 'whoami']);
    // One owner from now on, whichever worker receives the request.
    for (let i = 0; i < 6; i++) expect((await whoami(beta)).workerId).toBe(next.workerId);

    // The primary replaces the worker; a new session works and is never routed to the dead one.
    await cluster.waitForWorkers(before + 1);
    const again = await connect(cluster, '/servers/beta/mcp');
    for (let i = 0; i < 6; i++) expect((await whoami(again)).workerId).not.toBe(owner.workerId);
    await again.client.close();
    await beta.client.close();
  });
});

describe('examples/multi-worker shutdown', () => {
  test('SIGTERM to the primary drains every worker, then the primary exits 0', async () => {
    const cluster = await startExampleCluster(2, { env: { MCP_AFFINITY_DRAIN_MS: '300' } });
    try {
      const session = await connect(cluster, '/servers/beta/mcp');
      expect((await whoami(session)).workerId).toBe(session.transport.sessionId!.split('.')[0]);
      await session.client.close();
      const exited = new Promise<number | null>((resolve) => cluster.primary.once('exit', (code) => resolve(code)));
      cluster.primary.kill('SIGTERM');
      expect(await exited).toBe(0);
      // It drained (how long is judged in bench/, not here), and no worker was replaced on the way out.
      expect(cluster.output()).toMatch(/primary: draining workers/);
      expect(cluster.output()).not.toMatch(/starting a replacement/);
      for (const pid of cluster.workers.values()) expect(() => process.kill(pid, 0)).toThrow();
    } finally {
      await cluster.stop();
    }
  });
});
