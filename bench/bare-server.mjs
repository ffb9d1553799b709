// Row 1, the floor: a bare Express 5 handler with express.json() answering JSON-RPC tools/list
// with the same result the gateway returns. No session, no scope, no SDK.
import http from 'node:http';
import express from 'express';
import { MCP_PATH, TOOLS_LIST_RESULT } from './catalog.mjs';

const app = express();
app.post(MCP_PATH, express.json(), (req, res) => {
  res.json({ jsonrpc: '2.0', id: req.body?.id ?? null, result: TOOLS_LIST_RESULT });
});

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
