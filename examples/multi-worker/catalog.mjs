// The example's virtual servers: alpha (echo, add) and beta (reverse, whoami), plus `conformance`
// (conformance-catalog.mjs: what the official MCP conformance suite expects), which is served only
// on /servers/conformance/mcp. The unscoped /mcp endpoint lists alpha's and beta's four tools,
// and the items of each upstream of MCP_UPSTREAMS (upstreams.mjs), a virtual server of its own.
import { createCatalog, upstream } from 'express-mcp-affinity';
import { addConformanceServer } from './conformance-catalog.mjs';

const text = (value) => ({ content: [{ type: 'text', text: value }] });

/**
 * `upstreams`: id → upstream() options (parseUpstreams(process.env.MCP_UPSTREAMS)); each is a
 * virtual server at /servers/<id>/mcp whose connection (or stdio process) this catalog opens:
 * `await catalog.close()` closes them.
 */
export function createExampleCatalog({ upstreams = {}, logger } = {}) {
  const catalog = createCatalog(
    {
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
    },
    { logger },
  );
  const sources = [];
  for (const [id, options] of Object.entries(upstreams)) {
    const part = upstream(options, logger);
    sources.push(...part.upstreams);
    catalog.setServer(id, part);
  }
  listings.set(catalog, Promise.all(sources.map((source) => source.ready())));
  return addConformanceServer(catalog);
}

const listings = new WeakMap();

/**
 * Resolves once every upstream of `catalog` has been listed, or has failed to be (then it is
 * left out, with a log line): each is bounded by its timeoutMs. A worker waits for it before it
 * takes requests, so that its first sessions already see the upstreams' items.
 */
export function upstreamsListed(catalog) {
  return listings.get(catalog) ?? Promise.resolve();
}
