// Row 4, the reference hop: a raw node:http forward that pipes each request to TARGET_PORT (the
// owner's public port) over a keep-alive agent and pipes the answer back. No signature, no body
// buffering, no header filtering beyond what node:http does: what one loopback hop costs here.
import http from 'node:http';

const target = Number(process.env.TARGET_PORT);
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, scheduling: 'lifo' });

const server = http.createServer((req, res) => {
  const headers = { ...req.headers };
  delete headers.connection;
  const upstream = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers, agent }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  });
  req.pipe(upstream);
});
server.keepAliveTimeout = 65_000;
server.listen({ host: '127.0.0.1', port: 0 }, () => {
  process.send?.({ type: 'ready', port: server.address().port });
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  agent.destroy();
  process.exit(0);
});
process.on('disconnect', () => process.exit(0));
