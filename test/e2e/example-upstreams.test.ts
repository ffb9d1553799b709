/**
 * The example's MCP_UPSTREAMS: each entry is a virtual server at /servers/<id>/mcp, listed by /mcp
 * too; a bad value stops the example before any worker starts, with one line naming the variable,
 * the problem and the fix. Built package required.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { newConnectionFetch } from '../../lib/index';
import { type ExampleCluster, ROOT, startExampleCluster } from '../helpers/example-cluster';
import { startUpstreamServer, type UpstreamServer } from '../helpers/upstream-server';
import { waitFor } from '../helpers/wait';

async function exitOf(value: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'examples/multi-worker/server.mjs')], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', WORKERS: '1', MCP_UPSTREAMS: value },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c));
  child.stderr.on('data', (c: Buffer) => (output += c));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, output };
}

test.each([
  ['{not json', /^MCP_UPSTREAMS: not valid JSON \(.+\); fix: set it to a JSON object of id → upstream, such as /],
  ['["x"]', /^MCP_UPSTREAMS: expected a JSON object, received an array; fix: /],
  [
    '{"alpha":{"url":"http://127.0.0.1:1/mcp"}}',
    /^MCP_UPSTREAMS: the id "alpha" is one of the example's own servers; fix: choose another id/,
  ],
  ['{"a b":{"url":"http://127.0.0.1:1/mcp"}}', /^MCP_UPSTREAMS: the id "a b" is not a virtual-server id; fix: use 1 to 64 of/],
  ['{"up":"http://127.0.0.1:1/mcp"}', /^MCP_UPSTREAMS: up is "http:\/\/127\.0\.0\.1:1\/mcp", not an object; fix: give \{ "url": \.\.\. \}/],
  [
    '{"up":{"url":"ftp://x/mcp"}}',
    /^MCP_UPSTREAMS: entry "up": upstream: option `url` received "ftp:\/\/x\/mcp"; expected an http\(s\) URL/,
  ],
  ['{"up":{"command":"x","argz":[]}}', /^MCP_UPSTREAMS: entry "up": upstream: unknown option `argz`/],
])('MCP_UPSTREAMS=%s: exit 1 with one line naming the problem and the fix', async (value, line) => {
  const { code, output } = await exitOf(value);
  expect(code).toBe(1);
  expect(output.trim().split('\n')).toHaveLength(1);
  expect(output.trim()).toMatch(line);
});

describe('MCP_UPSTREAMS with a real upstream', () => {
  let up: UpstreamServer;
  let cluster: ExampleCluster | undefined;
  beforeAll(async () => {
    up = await startUpstreamServer();
    cluster = await startExampleCluster(2, { env: { MCP_UPSTREAMS: JSON.stringify({ fed: { url: up.url, prefix: 'up_' } }) } });
  });
  afterAll(async () => {
    await cluster?.stop();
    await up?.close();
  });

  const tools = async (endpoint: string): Promise<string[]> => {
    const client = new Client({ name: 'e2e', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(endpoint, cluster!.url), { fetch: newConnectionFetch() }));
    try {
      return (await client.listTools()).tools.map((t) => t.name).sort();
    } finally {
      await client.close();
    }
  };

  test('its virtual server serves the upstream’s tools, and /mcp lists them beside alpha’s and beta’s', async () => {
    expect(cluster!.output()).toMatch(/\/servers\/\{alpha,beta,conformance,fed\}\/mcp/);
    expect(await tools('/servers/fed/mcp')).toEqual(['up_add', 'up_broken', 'up_slow']);
    expect(await tools('/mcp')).toEqual(['add', 'echo', 'reverse', 'up_add', 'up_broken', 'up_slow', 'whoami']);
    const client = new Client({ name: 'e2e', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL('/servers/fed/mcp', cluster!.url), { fetch: newConnectionFetch() }));
    const sum = await client.callTool({ name: 'up_add', arguments: { a: 2, b: 40 } });
    expect((sum.content as Array<{ text: string }>)[0]!.text).toBe('42');
    expect(up.log).toContain('add 2+40');
    await client.close();
  });
});

describe('MCP_UPSTREAMS with a stdio upstream', () => {
  test('one process per worker, never per request or session; the example’s shutdown ends them', async () => {
    const io = { command: process.execPath, args: [path.join(ROOT, 'test/fixtures/stdio-upstream.mjs')], prefix: 'io_' };
    const cluster = await startExampleCluster(2, { env: { MCP_UPSTREAMS: JSON.stringify({ io }) } });
    const pids = new Set<number>();
    try {
      // Sessions over new connections, spread over the workers as the kernel hands them out.
      for (let i = 0; i < 8; i++) {
        const client = new Client({ name: 'e2e', version: '1' });
        await client.connect(new StreamableHTTPClientTransport(new URL('/servers/io/mcp', cluster.url), { fetch: newConnectionFetch() }));
        try {
          for (let call = 0; call < 2; call++) {
            const result = await client.callTool({ name: 'io_pid', arguments: {} });
            pids.add(Number((result.content as Array<{ text: string }>)[0]!.text));
          }
        } finally {
          await client.close();
        }
      }
      expect(pids.size).toBeGreaterThanOrEqual(1);
      expect(pids.size).toBeLessThanOrEqual(2); // 16 calls in 8 sessions, 2 workers: at most 2 processes
      for (const pid of pids) expect([...cluster.workers.values()]).not.toContain(pid); // a child of a worker, not the worker
    } finally {
      await cluster.stop();
    }
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor(() => [...pids].every((pid) => !alive(pid)), { what: 'the stdio upstreams to exit with the example' });
  });
});
