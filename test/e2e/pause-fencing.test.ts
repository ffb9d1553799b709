/**
 * Fencing: a worker of examples/multi-worker paused (SIGSTOP) past its heartbeat loses its sessions
 * to another worker, and when it comes back (SIGCONT) it never serves them again: its stale copy
 * is dropped and the request goes to the new owner. Two owners serving one session would be a bug.
 */

import http from 'node:http';
import { type ExampleCluster, startExampleCluster } from '../helpers/example-cluster';
import { ACCEPT, initializeBody, type RawResponse, rpc } from '../helpers/gateway';

describe('examples/multi-worker, a paused worker', () => {
  let cluster: ExampleCluster;
  beforeAll(async () => {
    cluster = await startExampleCluster(3);
  });
  afterAll(async () => {
    for (const pid of cluster.workers.values()) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
    await cluster?.stop();
  });

  test('paused past its heartbeat, its session is adopted; resumed, it forwards to the new owner instead of serving', async () => {
    const url = `${cluster.url}/servers/beta/mcp`;
    const init = await rpc(url, initializeBody());
    const sessionId = String(init.headers['mcp-session-id']);
    await rpc(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': sessionId });
    const owner = String(init.headers['mcp-affinity-served-by']);
    const pid = cluster.workers.get(owner)!;
    const call = (id: number) =>
      rpc(url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'whoami', arguments: {} } }, { 'mcp-session-id': sessionId });

    const callOrGiveUp = (id: number): Promise<RawResponse | undefined> =>
      new Promise((resolve) => {
        const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'whoami', arguments: {} } });
        const request = http.request(
          url,
          {
            method: 'POST',
            agent: false,
            timeout: 2000,
            headers: {
              'content-type': 'application/json',
              accept: ACCEPT,
              'mcp-protocol-version': '2025-06-18',
              'mcp-session-id': sessionId,
            },
          },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, messages: () => [] }));
          },
        );
        request.on('timeout', () => request.destroy());
        request.on('error', () => resolve(undefined));
        request.end(body);
      });

    process.kill(pid, 'SIGSTOP');
    await cluster.waitForOutput(new RegExp(`worker ${owner} lost: no heartbeat`));
    // Received by a live worker, it is adopted there. A connection the kernel queued for the paused
    // worker gets no answer until it resumes: the client gives up on it and tries again.
    let adopted: RawResponse | undefined;
    for (let i = 0; adopted?.status !== 200; i++) adopted = await callOrGiveUp(i);
    const newOwner = String(adopted!.headers['mcp-affinity-served-by']);
    expect(newOwner).not.toBe(owner);

    process.kill(pid, 'SIGCONT');
    // Requests until one is received by the resumed worker: it must not serve the session.
    const servedBy = new Set<string>();
    let receivedByResumed = 0;
    for (let i = 0; receivedByResumed < 3 && i < 300; i++) {
      const answer = await call(100 + i);
      expect(answer.status).toBe(200);
      servedBy.add(String(answer.headers['mcp-affinity-served-by']));
      if (answer.headers['mcp-affinity-received-by'] === owner) receivedByResumed++;
    }
    expect(receivedByResumed).toBe(3);
    expect([...servedBy]).toEqual([newOwner]);
  }, 60_000);
});
