/**
 * Generated cases for the per-worker bounds, each on chosen workers (test/helpers/fuzz-workers.ts):
 *
 * 7. A forwarded request takes a slot on the worker that received it only. lib/http/admission.ts:
 *    the receiver `admit`s it against maxConcurrentRequests once its body is in (session-affinity's
 *    forward); the owner only `track`s the hop (rpc-dispatch, a verified hop), which its drain
 *    waits for but which counts nothing against its bound. Held calls of sessions owned by A, sent
 *    through B, take `held` of B's slots and none of A's.
 * 8. Open streams (GET streams and 2026-07-28 `subscriptions/listen`) are counted apart, against
 *    maxOpenStreams on the worker that received them: past it, a 503 JSON-RPC error; closing a
 *    stream frees its slot.
 */
import fc from 'fast-check';
import { ENDPOINT, MAX_REQUESTS, MAX_STREAMS, type Value } from './fuzz-hardening';
import { type PostStream, postStream } from './fuzz-wire';
import { connectTo, type Held, requestOn } from './fuzz-workers';
import { ACCEPT, initializeBody, rawRequest, rpc, rpcMessages } from './gateway';

export const CONFORMANCE = '/servers/conformance/mcp';
const VERSION = '2025-06-18';
const JSON_HEADERS = { 'content-type': 'application/json', accept: ACCEPT, 'mcp-protocol-version': VERSION };
/** One request per connection: the connection was chosen for it. */
const POST_HEADERS = { ...JSON_HEADERS, connection: 'close' };

/** The workers, and the sessions each owns (opened over connections it holds). */
export interface SlotContext {
  readonly url: string;
  readonly workers: string[];
  /** workerId → its sessions. */
  readonly owned: Map<string, string[]>;
}

async function openOn(url: string, workerId: string, path: string, capabilities: object): Promise<string> {
  const body = JSON.stringify({ ...initializeBody(), params: { ...initializeBody().params, capabilities } });
  const init = await requestOn(await connectTo(url, workerId), path, 'POST', POST_HEADERS, body);
  expect(init.status).toBe(200);
  await init.body;
  const id = String(init.headers['mcp-session-id']);
  expect(id.startsWith(`${workerId}.`)).toBe(true);
  const ack = await rpc(`${url}${path}`, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': id });
  expect(ack.status).toBe(202);
  return id;
}

/** Opens `count` sessions on `path` owned by each worker; `end` ends them all (DELETE). */
export async function ownedSessions(
  url: string,
  workers: string[],
  path: string,
  count: number,
  capabilities: object = {},
): Promise<SlotContext & { end(): Promise<void> }> {
  const owned = new Map<string, string[]>();
  for (const worker of workers) {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push(await openOn(url, worker, path, capabilities));
    owned.set(worker, ids);
  }
  const end = async (): Promise<void> => {
    for (const id of [...owned.values()].flat()) {
      const ended = await rawRequest(`${url}${path}`, {
        method: 'DELETE',
        headers: { 'mcp-session-id': id, 'mcp-protocol-version': VERSION },
      });
      expect(ended.status).toBe(200);
    }
  };
  return { url, workers, owned, end };
}

/** A 503 "at capacity" JSON-RPC error: the refusal of a request past a per-worker bound. */
export function expectAtCapacity(answer: Held, body: string): void {
  expect(answer.status).toBe(503);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  expect(answer.headers['retry-after']).toBe('1');
  const parsed = JSON.parse(body);
  expect(parsed).toMatchObject({ jsonrpc: '2.0', error: { code: -32000, data: { code: 'ERR_MCP_AFFINITY_TOO_MANY_REQUESTS' } } });
  expect(parsed.error.message).toMatch(/capacity/);
}

// 7. `held` test_sampling calls (each in flight until its sampling request is answered) of A's
// sessions sent through B, `direct` more sent to A itself; then one more request to A, and one
// through B.
export const forwardedHolds = fc.record({
  owner: fc.nat({ max: 2 }),
  via: fc.nat({ max: 1 }),
  // Half the time B's whole bound, so that its refusal is seen in every run of the case.
  held: fc.oneof(fc.constant(MAX_REQUESTS), fc.integer({ min: 1, max: MAX_REQUESTS })),
  direct: fc.integer({ min: 0, max: MAX_REQUESTS - 1 }),
  method: fc.constantFrom('ping', 'tools/list'),
  texts: fc.array(fc.string({ maxLength: 12 }), { minLength: 2 * MAX_REQUESTS, maxLength: 2 * MAX_REQUESTS }),
});

interface HeldCall {
  readonly stream: PostStream;
  readonly sampling: { id: unknown };
  readonly session: string;
  readonly id: string;
}

/** A test_sampling call of `session` sent over a connection held by `via`, in flight once it asks. */
async function holdSampling(url: string, via: string, session: string, id: string): Promise<HeldCall> {
  const call = { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'test_sampling', arguments: { prompt: 'fuzz' } } };
  const stream = await postStream(`${url}${CONFORMANCE}`, { ...JSON_HEADERS, 'mcp-session-id': session }, call, await connectTo(url, via));
  expect(stream.status).toBe(200);
  const sampling = await stream.next((m) => m.method === 'sampling/createMessage');
  return { stream, sampling, session, id };
}

/** One request over a new connection held by `via`; its answer and body. */
async function sendTo(slots: SlotContext, via: string, session: string, message: object): Promise<[Held, string]> {
  const answer = await requestOn(
    await connectTo(slots.url, via),
    CONFORMANCE,
    'POST',
    { ...POST_HEADERS, 'mcp-session-id': session },
    JSON.stringify(message),
  );
  return [answer, await answer.body];
}

/** Returns whether B was full, and whether A would have been over its bound had it counted hops. */
export async function checkForwardedHolds(slots: SlotContext, c: Value<typeof forwardedHolds>): Promise<string[]> {
  const a = slots.workers[c.owner % slots.workers.length]!;
  const others = slots.workers.filter((w) => w !== a);
  const b = others[c.via % others.length]!;
  // Two sessions take the hops (an answer to a sampling request takes a session slot too, and
  // maxConcurrentPerSession is MAX_REQUESTS), a third the requests sent to A itself.
  const [hopOne, hopTwo, own] = slots.owned.get(a)!;
  const calls: HeldCall[] = [];
  for (let i = 0; i < c.held; i++) {
    const call = await holdSampling(slots.url, b, i % 2 ? hopTwo! : hopOne!, `hop-${i}`);
    // It crossed: received by B, served by A.
    expect(call.stream.headers['mcp-affinity-forwarded']).toBe('true');
    expect(call.stream.headers['mcp-affinity-received-by']).toBe(b);
    expect(call.stream.headers['mcp-affinity-served-by']).toBe(a);
    calls.push(call);
  }
  for (let i = 0; i < c.direct; i++) {
    const call = await holdSampling(slots.url, a, own!, `direct-${i}`);
    expect(call.stream.headers['mcp-affinity-forwarded']).toBeUndefined();
    expect(call.stream.headers['mcp-affinity-served-by']).toBe(a);
    calls.push(call);
  }
  // A holds `direct` of its slots, none for the hops: one more request to it is served.
  const [served, servedBody] = await sendTo(slots, a, own!, { jsonrpc: '2.0', id: 'direct', method: c.method });
  expect(served.status).toBe(200);
  expect(served.headers['mcp-affinity-received-by']).toBe(a);
  expect(rpcMessages(served.headers['content-type'], servedBody).at(-1)).toMatchObject({ id: 'direct', result: expect.any(Object) });
  // B holds `held`: full at MAX_REQUESTS, and then it refuses with a 503 (asserted here; the main
  // property's no-5xx rule stands for everything else).
  const [viaB, viaBBody] = await sendTo(slots, b, own!, { jsonrpc: '2.0', id: 'via-b', method: 'ping' });
  if (c.held === MAX_REQUESTS) expectAtCapacity(viaB, viaBBody);
  else {
    expect(viaB.status).toBe(200);
    expect(viaB.headers['mcp-affinity-forwarded']).toBe('true');
  }
  // Each sampling request answered (to A, its owner), each call finishes with its own answer.
  for (const [i, call] of calls.entries()) {
    const result = { role: 'assistant', model: 'fuzz', content: { type: 'text', text: c.texts[i] } };
    const [answered] = await sendTo(slots, a, call.session, { jsonrpc: '2.0', id: call.sampling.id, result });
    expect(answered.status).toBe(202);
  }
  for (const [i, call] of calls.entries()) {
    const done = (await call.stream.ended).at(-1);
    expect(done).toMatchObject({ id: call.id, result: { content: [{ type: 'text', text: `LLM response: ${c.texts[i]}` }] } });
  }
  return [
    c.held === MAX_REQUESTS ? 'receiver full' : 'receiver not full',
    c.held + c.direct + 1 > MAX_REQUESTS ? 'owner over its bound if hops counted' : 'owner under its bound anyway',
  ];
}

// 8. `kinds.length` streams opened one after another on one worker, then closed, then
// MAX_STREAMS streams of kind `again` opened on it.
type StreamKind = 'get' | 'listen';
const streamKind = fc.constantFrom<StreamKind>('get', 'listen');
export const streamsPastBound = fc.record({
  worker: fc.nat({ max: 2 }),
  // Half the time past the bound, so that refusals are seen in every run of the case.
  kinds: fc.oneof(
    fc.array(streamKind, { minLength: MAX_STREAMS + 1, maxLength: MAX_STREAMS + 3 }),
    fc.array(streamKind, { minLength: 1, maxLength: MAX_STREAMS + 3 }),
  ),
  again: streamKind,
});

const LISTEN_META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'fuzz', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

/** A GET stream of `session`, or a 2026-07-28 listen stream, over a new connection held by `worker`. */
async function openStream(url: string, worker: string, kind: StreamKind, session: string, id: string): Promise<Held> {
  const socket = await connectTo(url, worker);
  if (kind === 'get') {
    return requestOn(socket, ENDPOINT.alpha, 'GET', {
      accept: 'text/event-stream',
      'mcp-session-id': session,
      'mcp-protocol-version': VERSION,
    });
  }
  const body = {
    jsonrpc: '2.0',
    id,
    method: 'subscriptions/listen',
    params: { notifications: { toolsListChanged: true }, _meta: LISTEN_META },
  };
  const headers = {
    'content-type': 'application/json',
    accept: ACCEPT,
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': 'subscriptions/listen',
  };
  return requestOn(socket, ENDPOINT.alpha, 'POST', headers, JSON.stringify(body));
}

const expectStream = (stream: Held): void => {
  expect(stream.status).toBe(200);
  expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
};

/** Returns what became of each stream: '<kind> accepted' or '<kind> refused'. */
export async function checkStreamsPastBound(slots: SlotContext, c: Value<typeof streamsPastBound>): Promise<string[]> {
  const worker = slots.workers[c.worker % slots.workers.length]!;
  // A session per GET stream (the SDK allows one per session), owned by the worker: nothing crosses.
  const sessions = slots.owned.get(worker)!;
  const open: Held[] = [];
  const outcomes: string[] = [];
  for (const [i, kind] of c.kinds.entries()) {
    const stream = await openStream(slots.url, worker, kind, sessions[i]!, `listen-${i}`);
    if (i < MAX_STREAMS) {
      expectStream(stream);
      open.push(stream);
    } else {
      expect(stream.headers['content-type']).not.toMatch(/html/);
      expectAtCapacity(stream, await stream.body);
      await stream.close();
    }
    outcomes.push(`${kind} ${i < MAX_STREAMS ? 'accepted' : 'refused'}`);
  }
  // Closed by the client, each frees its slot: the worker saw each close (its socket's end came
  // in before the next connection was even opened, and that connection's /debug/worker answer
  // before the next stream was asked for), so MAX_STREAMS new ones are accepted. Their GET
  // sessions are those of the refused streams (never reached the session) or unused ones.
  await Promise.all(open.map((stream) => stream.close()));
  const again: Held[] = [];
  for (let i = 0; i < MAX_STREAMS; i++) {
    const stream = await openStream(slots.url, worker, c.again, sessions[MAX_STREAMS + i]!, `again-${i}`);
    expectStream(stream);
    again.push(stream);
  }
  await Promise.all(again.map((stream) => stream.close()));
  return outcomes;
}
