// The benchmark's virtual server, shared by every bench process so that the bare handler (row 1)
// answers tools/list with exactly the bytes the gateway's tools/list carries.
import { setTimeout as sleep } from 'node:timers/promises';

export const SERVER_ID = 'alpha';
export const MCP_PATH = `/servers/${SERVER_ID}/mcp`;
export const PROTOCOL_VERSION = '2025-06-18';

const text = (value) => ({ content: [{ type: 'text', text: value }] });

export const TOOLS = [
  {
    name: 'echo',
    description: 'Returns the text it is given.',
    inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    handler: ({ text: value }) => text(value),
  },
  {
    name: 'add',
    description: 'Adds two numbers.',
    inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
    handler: ({ a, b }) => text(String(a + b)),
  },
  {
    name: 'stream',
    description: 'Sends one progress notification at once, then answers after `ms` milliseconds.',
    inputSchema: { type: 'object', properties: { ms: { type: 'number' } } },
    handler: async ({ ms = 5 }, context) => {
      await context.sendProgress(0, 1, 'started');
      await sleep(ms);
      return text('done');
    },
  },
];

/** What tools/list returns (the gateway strips handlers the same way). */
export const TOOLS_LIST_RESULT = {
  tools: TOOLS.map(({ name, description, inputSchema }) => ({ name, description, inputSchema })),
};

export async function createBenchCatalog() {
  const { createCatalog } = await import('express-mcp-affinity');
  return createCatalog({ [SERVER_ID]: { tools: TOOLS } });
}

/** Headers every benchmark request carries. */
export function mcpHeaders(sessionId) {
  return {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': PROTOCOL_VERSION,
    ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
  };
}
