/**
 * The fast path answers single list requests of an owned session without the SDK transport. Its
 * answers must be exactly what the SDK path gives (a batch still goes through the SDK), and
 * whatever the SDK would refuse must still be refused by the SDK.
 */
import { openSession, type RunningGateway, rpc, startGateway, testCatalog } from './helpers/gateway';

describe('rpcDispatch fast path', () => {
  let gateway: RunningGateway;
  beforeAll(async () => {
    gateway = await startGateway({ catalog: testCatalog() });
  });
  afterAll(async () => {
    await gateway.close();
  });

  test.each(['tools/list', 'resources/list', 'resources/templates/list', 'prompts/list', 'ping'])(
    '%s: one JSON body, equal to the SDK’s answer',
    async (method) => {
      const url = `${gateway.url}/servers/alpha/mcp`;
      const session = await openSession(url);
      const headers = { 'mcp-session-id': session, 'mcp-protocol-version': '2025-03-26' };
      const fast = await rpc(url, { jsonrpc: '2.0', id: 'f', method }, headers);
      expect(fast.status).toBe(200);
      expect(fast.headers['content-type']).toBe('application/json');
      expect(fast.headers['mcp-session-id']).toBe(session);
      // A batch (allowed in 2025-03-26) goes through the SDK's Server and transport.
      const viaSdk = await rpc(url, [{ jsonrpc: '2.0', id: 's', method }], headers);
      expect(viaSdk.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(fast.messages()[0]).toEqual({ jsonrpc: '2.0', id: 'f', result: viaSdk.messages()[0].result });
    },
  );

  test('what the SDK refuses is still refused: a wrong Accept (406), an unsupported protocol version (400)', async () => {
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
