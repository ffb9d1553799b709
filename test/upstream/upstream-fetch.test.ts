/**
 * lib/upstream/upstream-fetch.ts with real fetch against a real upstream MCP server: the SDK
 * transport's one long-lived signal keeps no listener per request (undici's are removed only by
 * garbage collection: past 1,500 requests, a MaxListenersExceededWarning on every call), and it
 * still aborts a request in flight.
 */
import { getEventListeners } from 'node:events';
import { upstreamFetch } from '../../lib/upstream/upstream-fetch';
import { startUpstreamServer, type UpstreamServer } from '../helpers/upstream-server';

const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
};
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

describe('upstreamFetch', () => {
  let up: UpstreamServer;
  beforeAll(async () => {
    up = await startUpstreamServer();
  });
  afterAll(async () => {
    await up?.close();
  });

  test('the shared signal keeps no listener once each answer is read', async () => {
    const transportSignal = new AbortController();
    const fetchUpstream = upstreamFetch('up', 1 << 20);
    for (let i = 0; i < 50; i++) {
      const answer = await fetchUpstream(up.url, {
        method: 'POST',
        headers: HEADERS,
        body: JSON.stringify(INIT),
        signal: transportSignal.signal,
      });
      expect(answer.status).toBe(200);
      expect(await answer.text()).toContain('"protocolVersion"');
    }
    expect(getEventListeners(transportSignal.signal, 'abort')).toHaveLength(0);
  });

  test('aborting the shared signal still ends a request whose answer is being read', async () => {
    const transportSignal = new AbortController();
    const fetchUpstream = upstreamFetch('up', 1 << 20);
    const answer = await fetchUpstream(up.url, { method: 'GET', headers: { accept: 'text/event-stream' }, signal: transportSignal.signal });
    // No session: the SDK's transport refuses the GET; read nothing yet, then abort.
    expect(getEventListeners(transportSignal.signal, 'abort').length).toBeGreaterThan(0);
    transportSignal.abort(new Error('transport closed'));
    await expect(answer.text()).rejects.toThrow();
  });
});
