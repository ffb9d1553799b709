// Opens a session on /servers/beta/mcp of a running example (npm start) and sends every request
// over a new connection, so they land on different workers. Prints which worker received each
// request and which executed it, then shows alpha's tools/list answered through a worker that
// does not own the session.
//
//   MCP_URL=http://127.0.0.1:3000 npm run demo
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { newConnectionFetch } from 'express-mcp-affinity';

const base = process.env.MCP_URL ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`;
const CALLS = Number(process.env.CALLS ?? 6);

/** A client whose every request uses a new connection; `last` holds the latest response headers. */
async function connect(path) {
  const fetchNew = newConnectionFetch();
  const state = { last: undefined };
  const fetch = async (url, init) => {
    const response = await fetchNew(url, init);
    state.last = response.headers;
    return response;
  };
  const transport = new StreamableHTTPClientTransport(new URL(path, base), { fetch });
  const client = new Client({ name: 'express-mcp-affinity-demo', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport, state };
}

const beta = await connect('/servers/beta/mcp');
const owner = beta.transport.sessionId.split('.')[0];
console.log(`session ${beta.transport.sessionId.slice(0, 24)}… on /servers/beta/mcp, owned by ${owner}`);
const { tools } = await beta.client.listTools();
console.log(`tools/list on beta: ${tools.map((t) => t.name).join(', ')}`);
for (let i = 1; i <= CALLS; i++) {
  const result = await beta.client.callTool({ name: 'whoami', arguments: {} });
  const executed = JSON.parse(result.content[0].text);
  const received = beta.state.last.get('mcp-affinity-received-by');
  const how = received === executed.workerId ? 'served locally' : 'forwarded';
  console.log(`call ${i}: received by ${received}, executed by ${executed.workerId} (pid ${executed.pid}), ${how}`);
}
await beta.transport.terminateSession();
await beta.client.close();

const alpha = await connect('/servers/alpha/mcp');
const alphaOwner = alpha.transport.sessionId.split('.')[0];
for (let attempt = 1; attempt <= 20; attempt++) {
  const { tools: alphaTools } = await alpha.client.listTools();
  const received = alpha.state.last.get('mcp-affinity-received-by');
  if (received !== alphaOwner) {
    console.log(
      `tools/list on alpha, received by ${received}, answered by owner ${alpha.state.last.get('mcp-affinity-served-by')}: ${alphaTools.map((t) => t.name).join(', ')}`,
    );
    break;
  }
  if (attempt === 20) console.log('every request reached the owner directly; start more workers (WORKERS=3) to see a forward');
}
await alpha.transport.terminateSession();
await alpha.client.close();
