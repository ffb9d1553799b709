/**
 * The SDK client's own view of a streamed tools/call through a worker that does not own the
 * session: progress notifications reach `onprogress` before the result.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { MemoryStore, newConnectionFetch } from '../lib/index';
import { Gate, startGateway, testCatalog } from './helpers/gateway';

test('onprogress fires, through the forward, before the result resolves', async () => {
  const store = new MemoryStore();
  const gates: Gate[] = [];
  const a = await startGateway({ store, catalog: testCatalog([], gates) });
  const b = await startGateway({ store, catalog: testCatalog([], gates) });
  // Every request goes to B over a new connection; the session is opened on A.
  const fetchNew = newConnectionFetch();
  let initialized = false;
  const forwarded: boolean[] = [];
  const transport = new StreamableHTTPClientTransport(new URL(`${a.url}/servers/gamma/mcp`), {
    fetch: async (url, init) => {
      const toB = initialized;
      const response = await fetchNew(toB ? String(url).replace(a.url, b.url) : String(url), init);
      if (toB) forwarded.push(response.headers.get('mcp-affinity-forwarded') === 'true');
      if (response.headers.get('mcp-session-id')) initialized = true;
      return response;
    },
  });
  const client = new Client({ name: 'progress', version: '1.0.0' });
  try {
    await client.connect(transport);
    const gate = new Gate();
    gates.push(gate);
    const events: string[] = [];
    const call = client
      .request({ method: 'tools/call', params: { name: 'slow', arguments: {} } }, CallToolResultSchema, {
        onprogress: (progress) => {
          events.push(`progress ${progress.progress}/${progress.total}`);
          // The first progress event arrived while the tool still waits on the gate: streamed.
          if (progress.progress === 1) gate.release();
        },
      })
      .then((result) => events.push(`result ${(result.content[0] as { text: string }).text}`));
    await call;
    expect(events).toEqual(['progress 1/2', 'progress 2/2', 'result slow done']);
    expect(forwarded.length).toBeGreaterThan(0);
    expect(forwarded.every(Boolean)).toBe(true);
  } finally {
    for (const gate of gates) gate.release();
    await client.close();
    await Promise.all([a.close(), b.close()]);
  }
});
