// The SDK rows: the official SDK's own one-process stateful server, as its README wires it
// (Express + express.json() + McpServer + StreamableHTTPServerTransport, a transport per session
// kept in a map by session id), serving the same tools as bench/catalog.mjs. This is what a user
// would pick instead of the gateway.
//
// Env: JSON_RESPONSE=1|0 (the transport's enableJsonResponse).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import express from 'express';
import { z } from 'zod';
import { MCP_PATH, TOOLS } from './catalog.mjs';

const enableJsonResponse = process.env.JSON_RESPONSE !== '0';
const byName = Object.fromEntries(TOOLS.map((t) => [t.name, t]));

function createServer() {
  const server = new McpServer({ name: 'bench-sdk', version: '1.0.0' });
  server.registerTool('echo', { description: byName.echo.description, inputSchema: { text: z.string() } }, ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  server.registerTool('add', { description: byName.add.description, inputSchema: { a: z.number(), b: z.number() } }, ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  server.registerTool(
    'stream',
    { description: byName.stream.description, inputSchema: { ms: z.number().optional() } },
    async ({ ms = 5 }, extra) => {
      const progressToken = extra._meta?.progressToken;
      if (progressToken !== undefined) {
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken, progress: 0, total: 1, message: 'started' },
        });
      }
      await new Promise((resolve) => setTimeout(resolve, ms));
      return { content: [{ type: 'text', text: 'done' }] };
    },
  );
  return server;
}

const transports = {};
const app = express();
app.use(express.json());

app.post(MCP_PATH, async (req, res) => {
  const sessionId = req.headers['mcp-session-id'];
  let transport;
  if (sessionId && transports[sessionId]) {
    transport = transports[sessionId];
  } else if (!sessionId && isInitializeRequest(req.body)) {
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse,
      onsessioninitialized: (id) => {
        transports[id] = transport;
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) delete transports[transport.sessionId];
    };
    await createServer().connect(transport);
  } else {
    res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: No valid session ID provided' }, id: null });
    return;
  }
  await transport.handleRequest(req, res, req.body);
});

const handleSessionRequest = async (req, res) => {
  const sessionId = req.headers['mcp-session-id'];
  if (!sessionId || !transports[sessionId]) {
    res.status(400).send('Invalid or missing session ID');
    return;
  }
  await transports[sessionId].handleRequest(req, res);
};
app.get(MCP_PATH, handleSessionRequest);
app.delete(MCP_PATH, handleSessionRequest);

const server = http.createServer(app);
server.keepAliveTimeout = 65_000;
server.listen({ host: '127.0.0.1', port: 0 }, () => {
  process.send?.({ type: 'ready', port: server.address().port });
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
process.on('disconnect', () => process.exit(0));

// bench/memory.mjs (run with --expose-gc): the heap after a full GC, and the sessions held.
if (process.env.MEMORY_PROBE === '1') {
  process.on('message', (message) => {
    if (message?.type !== 'heap') return;
    globalThis.gc?.();
    globalThis.gc?.();
    process.send({ type: 'heap', heapUsed: process.memoryUsage().heapUsed, awake: Object.keys(transports).length });
  });
}
