// MCP_UPSTREAMS: real MCP servers federated as virtual servers of the example. A JSON object of
// virtual-server id → the options of upstream(): { "url": ..., "headers": {...} } (Streamable
// HTTP) or { "command": ..., "args": [...] } (stdio, started once per worker). Each becomes
// /servers/<id>/mcp, and its items are listed on /mcp too.
//
//   MCP_UPSTREAMS='{"everything":{"url":"http://127.0.0.1:3300/mcp"}}' npm start
import { DEFAULT_SERVER_ID_PATTERN, upstream } from 'express-mcp-affinity';

const EXAMPLE = `'{"everything":{"url":"http://127.0.0.1:3300/mcp"}}' or '{"fs":{"command":"npx","args":["-y","some-mcp-server"]}}'`;
const TAKEN = new Set(['alpha', 'beta', 'conformance']);

/** Thrown for a bad MCP_UPSTREAMS: its message is the one line to print. */
export class UpstreamsConfigError extends Error {}

const bad = (problem, fix) =>
  new UpstreamsConfigError(
    `MCP_UPSTREAMS: ${problem}; ${fix === null ? '' : `fix: ${fix ?? `set it to a JSON object of id → upstream, such as ${EXAMPLE}`}`}`.replace(
      /; $/,
      '',
    ),
  );

/**
 * Parses and checks MCP_UPSTREAMS (`value`: the variable's text, or undefined). Returns id →
 * upstream() options, each with `name` defaulting to its id (the name errors and logs use).
 * Throws UpstreamsConfigError naming the problem and the fix.
 */
export function parseUpstreams(value) {
  if (value === undefined || value.trim() === '') return {};
  let parsed;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw bad(`not valid JSON (${error.message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw bad(`expected a JSON object, received ${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed)}`);
  }
  const out = {};
  for (const [id, entry] of Object.entries(parsed)) {
    if (!DEFAULT_SERVER_ID_PATTERN.test(id)) {
      throw bad(`the id ${JSON.stringify(id)} is not a virtual-server id`, 'use 1 to 64 of [A-Za-z0-9_-], starting with a letter or digit');
    }
    if (TAKEN.has(id)) throw bad(`the id ${JSON.stringify(id)} is one of the example's own servers`, 'choose another id');
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw bad(`${id} is ${JSON.stringify(entry)}, not an object`, `give { "url": ... } or { "command": ..., "args": [...] }`);
    }
    const options = { name: id, ...entry };
    try {
      upstream(options); // checks every option; connects only once a catalog watches it
    } catch (error) {
      // upstream()'s message names the option, the value and the fix already.
      throw bad(`entry ${JSON.stringify(id)}: ${error.message.replace(/^\[[^\]]*\]\s*/, '')}`, null);
    }
    out[id] = options;
  }
  return out;
}
