/**
 * DNS-rebinding protection: Host and Origin are checked on the worker that receives a request,
 * before any forward; a refused request gets 403 with a JSON-RPC body and reaches nobody.
 */
import { MemoryStore } from '../lib/index';
import { initializeBody, openSession, type RunningGateway, rpc, startGateway, testCatalog } from './helpers/gateway';

describe('Host and Origin', () => {
  const running: RunningGateway[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((g) => g.close()));
  });

  test('by default a browser Origin other than loopback gets 403; loopback origins and non-browser clients pass', async () => {
    const g = await startGateway({ catalog: testCatalog() });
    running.push(g);
    const url = `${g.url}/servers/alpha/mcp`;
    const refused = await rpc(url, initializeBody(), { origin: 'http://evil.example' });
    expect(refused.status).toBe(403);
    expect(refused.messages()[0].error.data.code).toBe('ERR_MCP_AFFINITY_FORBIDDEN_ORIGIN');
    expect(g.router.worker.sessions.size).toBe(0);
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:8080', 'https://[::1]']) {
      expect((await rpc(url, initializeBody(), { origin })).status).toBe(200);
    }
    expect((await rpc(url, initializeBody())).status).toBe(200);
  });

  test('allowedOrigins and allowedHosts replace the defaults; the check runs before any forward', async () => {
    const store = new MemoryStore();
    const owner = await startGateway({ store, catalog: testCatalog() });
    const front = await startGateway({
      store,
      catalog: testCatalog(),
      allowedHosts: ['localhost'],
      allowedOrigins: ['https://app.example'],
    });
    running.push(owner, front);
    const session = await openSession(`${owner.url}/servers/alpha/mcp`);
    const before = owner.seen.length;
    const url = `${front.url}/servers/alpha/mcp`;
    const port = new URL(front.url).port;
    const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' };

    // Host 127.0.0.1 is not in allowedHosts: refused, and the owner never sees it.
    const wrongHost = await rpc(url, list, { 'mcp-session-id': session });
    expect(wrongHost.status).toBe(403);
    expect(wrongHost.messages()[0].error.message).toMatch(/Host/);
    expect(owner.seen.length).toBe(before);

    const host = `localhost:${port}`;
    expect((await rpc(url, list, { host, 'mcp-session-id': session, origin: 'http://localhost:3000' })).status).toBe(403);
    const allowed = await rpc(url, list, { host, 'mcp-session-id': session, origin: 'https://app.example' });
    expect(allowed.status).toBe(200);
    expect(allowed.headers['mcp-affinity-forwarded']).toBe('true');
    expect((await rpc(url, list, { host, 'mcp-session-id': session })).status).toBe(200);
  });

  test('wrong shapes are refused at creation, naming the option', async () => {
    await expect(startGateway({ catalog: testCatalog(), allowedHosts: 'localhost' as never })).rejects.toThrow(
      /`allowedHosts` received "localhost"/,
    );
    await expect(startGateway({ catalog: testCatalog(), allowedOrigins: ['app.example'] })).rejects.toThrow(
      /`allowedOrigins` received an array of 1/,
    );
  });
});
