/**
 * The MCP core on its own: no HTTP, no SDK transport. Each method answers through the scope it is
 * given; a handler's context comes from the caller (here a minimal one).
 */
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { createMcpCore } from '../../lib/mcp/core';
import { createHandlerContext } from '../../lib/mcp/handler-context';
import { parseParams } from '../../lib/mcp/request-schemas';
import type { McpScope } from '../../lib/types';
import { testCatalog } from '../helpers/gateway';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const alpha: McpScope = { kind: 'server', serverId: 'alpha' };
const beta: McpScope = { kind: 'server', serverId: 'beta' };

function request(scope: McpScope) {
  const signal = new AbortController().signal;
  return {
    scope,
    auth: undefined,
    context: (serverId: string) =>
      createHandlerContext({
        serverId,
        scope,
        sessionId: undefined,
        workerId: 'w-test',
        auth: undefined,
        signal,
        progressToken: undefined,
        channel: undefined,
        era: 'test',
      }),
  };
}

describe('the MCP core, without HTTP', () => {
  const calls: string[] = [];
  const core = createMcpCore(testCatalog(calls), silent);

  test('lists through the scope only', async () => {
    const tools = (await core.call('tools/list', {}, request(alpha))) as { tools: Array<{ name: string }> };
    expect(tools.tools.map((t) => t.name).sort()).toEqual(['add', 'echo']);
    const other = (await core.call('tools/list', {}, request(beta))) as { tools: Array<{ name: string }> };
    expect(other.tools.map((t) => t.name).sort()).toEqual(['reverse', 'whoami']);
  });

  test('tools/call runs the scope’s tool; another server’s tool is unknown and never runs', async () => {
    const sum = await core.call('tools/call', { name: 'add', arguments: { a: 1, b: 2 } }, request(alpha));
    expect(sum).toEqual({ content: [{ type: 'text', text: '3' }] });
    await expect(core.call('tools/call', { name: 'reverse', arguments: { text: 'x' } }, request(alpha))).rejects.toMatchObject({
      code: -32602,
    });
    expect(calls).toEqual(['alpha/add@w-test']);
  });

  test('prompts/get refuses a missing required argument with -32602 before the prompt runs', async () => {
    await expect(core.call('prompts/get', { name: 'greet', arguments: {} }, request(alpha))).rejects.toBeInstanceOf(McpError);
    await expect(core.call('prompts/get', { name: 'greet', arguments: {} }, request(alpha))).rejects.toMatchObject({ code: -32602 });
    expect(await core.call('prompts/get', { name: 'greet', arguments: { who: 'Ada' } }, request(alpha))).toMatchObject({
      messages: [{ content: { text: 'Hello Ada' } }],
    });
  });

  test('resources/read: listed, matched by a template, or not found (-32002)', async () => {
    expect(await core.call('resources/read', { uri: 'memo://alpha/readme' }, request(alpha))).toMatchObject({
      contents: [{ text: 'alpha readme' }],
    });
    expect(await core.call('resources/read', { uri: 'memo://alpha/notes/7' }, request(alpha))).toMatchObject({
      contents: [{ text: 'note 7' }],
    });
    await expect(core.call('resources/read', { uri: 'memo://beta/secret' }, request(alpha))).rejects.toMatchObject({ code: -32002 });
    expect(await core.resourceExists(alpha, 'memo://alpha/notes/1', undefined)).toBe(true);
    expect(await core.resourceExists(alpha, 'memo://beta/secret', undefined)).toBe(false);
  });

  test('params are checked with the SDK’s schemas, the same check for every era', () => {
    expect(parseParams({ method: 'prompts/get', params: { name: 'greet', arguments: 5 } }).ok).toBe(false);
    expect(parseParams({ method: 'tools/call', params: { arguments: {} } }).ok).toBe(false);
    expect(parseParams({ method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } })).toEqual({
      ok: true,
      params: { name: 'echo', arguments: { text: 'x' } },
    });
    expect(core.serves('tools/call')).toBe(true);
    expect(core.serves('logging/setLevel')).toBe(false);
  });
});
