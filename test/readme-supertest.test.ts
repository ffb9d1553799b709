/**
 * The README's "Testing your own stack" example, verbatim in spirit: supertest against an Express
 * app with the gateway mounted, one worker, no server of your own to start.
 */
import express from 'express';
import request from 'supertest';
import { createCatalog, mcpAffinity } from '../lib/index';

const catalog = createCatalog({
  alpha: {
    tools: [
      {
        name: 'echo',
        inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
        handler: ({ text }) => ({ content: [{ type: 'text', text: String(text) }] }),
      },
    ],
  },
  beta: { tools: [{ name: 'whoami', inputSchema: { type: 'object' }, handler: () => ({ content: [{ type: 'text', text: 'beta' }] }) }] },
});

describe('my gateway', () => {
  const app = express();
  // jsonResponse: each answer is one JSON body, which supertest parses (SSE is the default).
  const mcp = mcpAffinity({ secret: 'a test secret of at least thirty-two characters', catalog, jsonResponse: true });
  app.use(mcp);
  afterAll(() => mcp.close());

  const post = (path: string, body: unknown, session?: string) =>
    request(app)
      .post(path)
      .set('accept', 'application/json, text/event-stream')
      .set('mcp-protocol-version', '2025-06-18')
      .set(session ? { 'mcp-session-id': session } : {})
      .send(body as object);

  test('a session on /servers/alpha/mcp sees alpha’s tools only', async () => {
    const init = await post('/servers/alpha/mcp', {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'test', version: '1' } },
    });
    expect(init.status).toBe(200);
    const session = init.headers['mcp-session-id'];
    const list = await post('/servers/alpha/mcp', { jsonrpc: '2.0', id: 2, method: 'tools/list' }, session);
    expect(list.body.result.tools.map((t: { name: string }) => t.name)).toEqual(['echo']);
    const foreign = await post('/servers/beta/mcp', { jsonrpc: '2.0', id: 3, method: 'tools/list' }, session);
    expect(foreign.status).toBe(404);
  });

  test('bad input gets a JSON-RPC error', async () => {
    const res = await request(app).post('/mcp').set('content-type', 'application/json').send('{not json');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(-32700);
  });
});
