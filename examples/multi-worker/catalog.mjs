// The example's virtual servers: alpha (echo, add) and beta (reverse, whoami), plus `conformance`
// (conformance-catalog.mjs: what the official MCP conformance suite expects), which is served only
// on /servers/conformance/mcp. The unscoped /mcp endpoint lists alpha's and beta's four tools.
import { createCatalog } from 'express-mcp-affinity';
import { addConformanceServer } from './conformance-catalog.mjs';

const text = (value) => ({ content: [{ type: 'text', text: value }] });

export function createExampleCatalog() {
  const catalog = createCatalog({
    alpha: {
      tools: [
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
      ],
    },
    beta: {
      tools: [
        {
          name: 'reverse',
          description: 'Returns the text reversed.',
          inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
          handler: ({ text: value }) => text([...value].reverse().join('')),
        },
        {
          name: 'whoami',
          description: 'Names the worker that executed this call.',
          inputSchema: { type: 'object', properties: {} },
          handler: (_args, context) => text(JSON.stringify({ workerId: context.workerId, pid: process.pid })),
        },
      ],
    },
  });
  return addConformanceServer(catalog);
}
