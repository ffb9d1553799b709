/**
 * One way to answer each method: a list request alone and the same request in a batch both go
 * through the SDK's transport and `Server`, and give the same result; what the SDK refuses is
 * refused whatever the method.
 */
import { openSession, type RunningGateway, rpc, startGateway, testCatalog } from './helpers/gateway';

describe('rpcDispatch answers every method one way', () => {
  let gateway: RunningGateway;
  beforeAll(async () => {
    gateway = await startGateway({ catalog: testCatalog() });
  });
  afterAll(async () => {
    await gateway.close();
  });

  test.each(['tools/list', 'resources/list', 'resources/templates/list', 'prompts/list', 'ping'])(
    '%s: alone and in a batch, the same SSE answer from the SDK transport',
    async (method) => {
      const url = `${gateway.url}/servers/alpha/mcp`;
      const session = await openSession(url);
      const headers = { 'mcp-session-id': session, 'mcp-protocol-version': '2025-03-26' };
      const alone = await rpc(url, { jsonrpc: '2.0', id: 'a', method }, headers);
      expect(alone.status).toBe(200);
      expect(alone.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(alone.headers['mcp-session-id']).toBe(session);
      // A batch (allowed in 2025-03-26) takes the same path.
      const batch = await rpc(url, [{ jsonrpc: '2.0', id: 'b', method }], headers);
      expect(batch.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(alone.messages()[0]).toEqual({ jsonrpc: '2.0', id: 'a', result: batch.messages()[0].result });
    },
  );

  test('what the SDK refuses is refused for lists too: a wrong Accept (406), an unsupported protocol version (400)', async () => {
    const url = `${gateway.url}/servers/alpha/mcp`;
    const session = await openSession(url);
    expect(
      (await rpc(url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'mcp-session-id': session, accept: 'application/json' })).status,
    ).toBe(406);
    expect(
      (await rpc(url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-session-id': session, 'mcp-protocol-version': '1999-01-01' }))
        .status,
    ).toBe(400);
  });
});
