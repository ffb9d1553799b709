/**
 * Generated cases for the hardening fixes inside a session (test/hardening.test.ts has one
 * example of each): batches sent without MCP-Protocol-Version, each call counted against
 * maxConcurrentPerSession (3), and a JSON-RPC id sent again while the first is in flight (4).
 * Plus what the fuzz test needs around them: its extra sessions, and each worker's session count.
 */
import fc from 'fast-check';
import { type FuzzContext, MAX_PER_SESSION, type Value } from './fuzz-hardening';
import { postStream, send } from './fuzz-wire';
import { ACCEPT, initializeBody, rawRequest, rpc } from './gateway';

/** Opens a session on `path` at `version`, its client declaring `capabilities`; returns its id. */
export async function openSessionAt(url: string, path: string, version: string, capabilities: object = {}): Promise<string> {
  const init = await rpc(
    `${url}${path}`,
    { ...initializeBody(), params: { ...initializeBody().params, protocolVersion: version, capabilities } },
    { 'mcp-protocol-version': version },
  );
  if (init.status !== 200) throw new Error(`initialize answered ${init.status}: ${init.body}`);
  const id = String(init.headers['mcp-session-id']);
  const ack = await rpc(
    `${url}${path}`,
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { 'mcp-session-id': id, 'mcp-protocol-version': version },
  );
  if (ack.status !== 202) throw new Error(`notifications/initialized answered ${ack.status}`);
  return id;
}

/** workerId → sessions it holds, asked of each worker (over new connections until all answered). */
export async function sessionCounts(url: string, workers: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; seen.size < workers && i < 500; i++) {
    const answer = await send(url, '/debug/worker', 'GET', {}, undefined);
    const { workerId, sessions } = JSON.parse(answer.body);
    seen.set(workerId, sessions);
  }
  if (seen.size < workers) throw new Error(`only ${seen.size} of ${workers} workers answered /debug/worker`);
  return seen;
}

// 3. A batch without MCP-Protocol-Version, in a 2025-03-26 session (batches allowed: each call
// counts) or a 2025-06-18 one (the negotiated version refuses batches). Ids from a small range,
// so that some batches repeat one.
const call = fc.record({
  id: fc.integer({ min: 1, max: 12 }),
  method: fc.constantFrom('ping', 'tools/list', 'tools/call'),
  text: fc.string({ maxLength: 10 }),
});
export const headerlessBatch = fc.record({
  era: fc.constantFrom('2025-03-26', '2025-06-18'),
  calls: fc.array(call, { minLength: 1, maxLength: 2 * MAX_PER_SESSION }),
});

/** What the gateway must answer a batch: 'refused' (version), 'busy', 'duplicate' or 'served'. */
export type BatchOutcome = 'refused' | 'busy' | 'duplicate' | 'served';

/** The version refuses batches; then too many calls; then an id twice; else every call is served. */
function expectedOutcome(era: string, ids: number[]): BatchOutcome {
  if (era === '2025-06-18') return 'refused';
  if (ids.length > MAX_PER_SESSION) return 'busy';
  return new Set(ids).size < ids.length ? 'duplicate' : 'served';
}

export async function checkHeaderlessBatch(ctx: FuzzContext, c: Value<typeof headerlessBatch>): Promise<BatchOutcome> {
  const batch = c.calls.map(({ id, method, text }) => ({
    jsonrpc: '2.0',
    id,
    method,
    ...(method === 'tools/call' ? { params: { name: 'echo', arguments: { text } } } : {}),
  }));
  const session = c.era === '2025-03-26' ? ctx.legacy : ctx.sessions.alpha;
  const answer = await rawRequest(`${ctx.url}/servers/alpha/mcp`, {
    headers: { 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': session },
    body: JSON.stringify(batch),
  });
  const ids = c.calls.map((m) => m.id);
  const outcome = expectedOutcome(c.era, ids);
  const expected = { refused: 400, busy: 429, duplicate: 400, served: 200 }[outcome];
  expect(answer.status).toBe(expected);
  const messages = answer.messages();
  if (outcome !== 'served') {
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(messages[0].error.code).toBe(outcome === 'busy' ? -32000 : -32600);
    const reason = { refused: /batches are not allowed in protocol version 2025-06-18/, busy: /Too many/, duplicate: /already in flight/ };
    expect(messages[0].error.message).toMatch(reason[outcome]);
    return outcome;
  }
  // Each call answered once, by its own id, with its own result.
  expect(messages.map((m) => m.id).sort()).toEqual([...ids].sort());
  for (const m of messages) {
    const sent = c.calls.find((x) => x.id === m.id)!;
    if (sent.method === 'tools/call') expect(m.result.content[0].text).toBe(sent.text);
    else if (sent.method === 'tools/list') expect(m.result.tools.map((t: { name: string }) => t.name).sort()).toEqual(['add', 'echo']);
    else expect(m.result).toEqual({});
  }
  return outcome;
}

// 4. A request sent while test_sampling (which waits for the client's answer) is in flight in the
// session: with the same id it is refused; with any other, even "7" against 7, it is served.
const rpcId = fc.oneof(fc.integer({ min: -1e6, max: 1e6 }), fc.string({ minLength: 1, maxLength: 12 }));
export const inFlightId = fc.record({
  first: rpcId,
  second: fc.oneof(
    { weight: 3, arbitrary: fc.constant<'same'>('same') },
    { weight: 1, arbitrary: fc.constant<'stringified'>('stringified') },
    { weight: 1, arbitrary: rpcId },
  ),
  method: fc.constantFrom('ping', 'tools/list', 'tools/call'),
  text: fc.string({ maxLength: 20 }),
});

/** Whether the second request carried the first one's id. */
export async function checkInFlightId(ctx: FuzzContext, c: Value<typeof inFlightId>): Promise<boolean> {
  const url = `${ctx.url}/servers/conformance/mcp`;
  const headers = { 'content-type': 'application/json', accept: ACCEPT, 'mcp-protocol-version': '2025-06-18' };
  const session = { ...headers, 'mcp-session-id': ctx.conformance };
  const first = await postStream(url, session, {
    jsonrpc: '2.0',
    id: c.first,
    method: 'tools/call',
    params: { name: 'test_sampling', arguments: { prompt: 'fuzz' } },
  });
  expect(first.status).toBe(200);
  // In flight until the client answers the sampling request it sent on its stream.
  const sampling = await first.next((m) => m.method === 'sampling/createMessage');
  const secondId = c.second === 'same' ? c.first : c.second === 'stringified' ? String(c.first) : c.second;
  const duplicate = secondId === c.first;
  const params = c.method === 'tools/call' ? { name: 'test_simple_text', arguments: {} } : undefined;
  const second = await rpc(url, { jsonrpc: '2.0', id: secondId, method: c.method, ...(params ? { params } : {}) }, session);
  if (duplicate) {
    expect(second.status).toBe(400);
    expect(second.headers['content-type']).toMatch(/^application\/json/);
    expect(second.messages()[0]).toMatchObject({ jsonrpc: '2.0', id: c.first, error: { code: -32600 } });
  } else {
    expect(second.status).toBe(200);
    expect(second.messages().at(-1)).toMatchObject({ id: secondId, result: expect.any(Object) });
  }
  const answer = { role: 'assistant', model: 'fuzz', content: { type: 'text', text: c.text } };
  expect((await rpc(url, { jsonrpc: '2.0', id: sampling.id, result: answer }, session)).status).toBe(202);
  // The first call finishes, untouched by the refusal (its id is free again for the next case).
  const done = (await first.ended).at(-1);
  expect(done).toMatchObject({ id: c.first, result: { content: [{ type: 'text', text: `LLM response: ${c.text}` }] } });
  return duplicate;
}
