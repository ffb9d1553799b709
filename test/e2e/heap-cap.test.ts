/**
 * A client that opens 8,000 sessions and never ends them, against one gateway process whose heap
 * is capped at 100 MB (the defaults: `maxSessionsPerWorker` sized to the heap). Before
 * hibernation the worker grew until "JavaScript heap out of memory"; now the least recently used
 * sessions hibernate, the process lives, and every session is still served.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { ROOT } from '../helpers/example-cluster';
import { initializeBody } from '../helpers/gateway';
import { waitForOutput } from '../helpers/wait';

const SESSIONS = 8_000;

function post(
  port: number,
  agent: http.Agent,
  body: object,
  headers: Record<string, string> = {},
): Promise<{ status: number; session?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/servers/alpha/mcp',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, session: res.headers['mcp-session-id'] as string | undefined }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('8,000 idle sessions under a 100 MB heap cap', () => {
  let child: ChildProcess;
  afterAll(() => {
    child?.kill('SIGTERM');
  });

  test('the worker hibernates the least recently used, lives, and still serves the first session', async () => {
    child = spawn(process.execPath, ['--max-old-space-size=100', '--expose-gc', path.join(ROOT, 'test/fixtures/heap-cap-gateway.mjs')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (c) => (output += c));
    child.stderr!.on('data', (c) => (output += c));
    const ready = await waitForOutput([child.stdout!, child.stderr!], /ready (\d+)/, { output: () => output });
    const port = Number(ready[1]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const first = await post(port, agent, initializeBody());
    for (let i = 1; i < SESSIONS; i += 16) {
      const answers = await Promise.all(Array.from({ length: Math.min(16, SESSIONS - i) }, () => post(port, agent, initializeBody())));
      expect(answers.every((a) => a.status === 200)).toBe(true);
    }
    expect(child.exitCode).toBeNull();
    expect(output).not.toMatch(/heap out of memory/i);
    const debug = await new Promise<{ awake: number; hibernated: number; heapUsed: number }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/debug', agent }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve(JSON.parse(text)));
        })
        .on('error', reject);
    });
    expect(debug.awake + debug.hibernated).toBe(SESSIONS);
    expect(debug.hibernated).toBeGreaterThan(SESSIONS / 2);
    expect(debug.heapUsed).toBeLessThan(100 * 1024 * 1024);
    // The very first session, long hibernated, is rebuilt and served.
    const again = await post(
      port,
      agent,
      { jsonrpc: '2.0', id: 2, method: 'tools/list' },
      { 'mcp-session-id': first.session!, 'mcp-protocol-version': '2025-06-18' },
    );
    expect(again.status).toBe(200);
    agent.destroy();
  }, 120_000);
});
