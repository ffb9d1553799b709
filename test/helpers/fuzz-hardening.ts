/**
 * Generated cases for the hardening fixes that live on the wire (test/hardening.test.ts has one
 * example of each): bodies that never arrive (1), GET and DELETE with a body (2), and paths shaped
 * like MCP endpoints (5). Each is an arbitrary and the check of one generated value against a
 * real cluster of the example started with FUZZ_CLUSTER_ENV.
 */
import fc from 'fast-check';
import { type RawAnswer, writeAndStop } from './fuzz-wire';
import { ACCEPT, rpc } from './gateway';

/** The limits the fuzzed cluster runs with (the example's environment knobs). */
export const BODY_TIMEOUT_MS = 300;
export const MAX_REQUESTS = 4;
export const MAX_PER_SESSION = 4;
export const MAX_STREAMS = 3;
export const FUZZ_CLUSTER_ENV = {
  MCP_AFFINITY_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS),
  MCP_AFFINITY_MAX_REQUESTS: String(MAX_REQUESTS),
  MCP_AFFINITY_MAX_PER_SESSION: String(MAX_PER_SESSION),
  MCP_AFFINITY_MAX_STREAMS: String(MAX_STREAMS),
  MCP_AFFINITY_DEBUG: '1',
};
/** A stalled connection still open this long after the body timeout is a hang: the case fails. */
const HANG_MS = BODY_TIMEOUT_MS + 10_000;

export type Kind = 'alpha' | 'beta' | 'unscoped';
export const ENDPOINT: Record<Kind, string> = { alpha: '/servers/alpha/mcp', beta: '/servers/beta/mcp', unscoped: '/mcp' };

export interface FuzzContext {
  readonly url: string;
  /** 2025-06-18 sessions, one per endpoint (replaced when a case ends one). */
  readonly sessions: Record<Kind, string>;
  /** A 2025-03-26 session on alpha (batches allowed). */
  legacy: string;
  /** A 2025-06-18 session on the conformance server whose client declared sampling. */
  conformance: string;
}

/** The value an arbitrary generates. */
export type Value<A> = A extends fc.Arbitrary<infer T> ? T : never;

const kind = fc.constantFrom<Kind>('alpha', 'beta', 'unscoped');
const framing = fc.constantFrom('content-length', 'chunked');

/** Request headers, then `body` (which may be part of the body declared). */
function wire(url: string, method: string, path: string, headers: Record<string, string>, body = ''): string {
  const lines = Object.entries({ host: new URL(url).host, ...headers }).map(([name, value]) => `${name}: ${value}\r\n`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join('')}\r\n${body}`;
}

/** How a body of `declared` bytes is announced, and the first `sent` of them (never all). */
function partialBody(how: string, declared: number, sent: number): { headers: Record<string, string>; bytes: string } {
  const whole = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }).padEnd(declared, ' ').slice(0, declared);
  const part = whole.slice(0, sent);
  return how === 'chunked'
    ? { headers: { 'transfer-encoding': 'chunked' }, bytes: `${declared.toString(16)}\r\n${part}` }
    : { headers: { 'content-length': String(declared) }, bytes: part };
}

/** Checks a JSON-RPC error answer; returns its `error.data.code`. */
function expectJsonError(answer: RawAnswer, status: number, codes: readonly string[]): string {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  const parsed = JSON.parse(answer.body);
  expect(parsed.jsonrpc).toBe('2.0');
  expect(Number.isInteger(parsed.error.code)).toBe(true);
  expect(codes).toContain(parsed.error.data.code);
  return parsed.error.data.code;
}

/** A request of the session that must be served (no slot or session count is held by the case). */
export async function expectServed(ctx: FuzzContext, which: Kind): Promise<void> {
  const answer = await rpc(
    `${ctx.url}${ENDPOINT[which]}`,
    { jsonrpc: '2.0', id: 'served', method: 'ping' },
    {
      'mcp-session-id': ctx.sessions[which],
    },
  );
  expect(answer.status).toBe(200);
}

// 1. Complete POST headers declaring a body, part of it (or none) sent, then nothing: on many
// connections at once, more than the cluster's slots (3 workers × MAX_REQUESTS).
export const stalledBody = fc.record({
  connections: fc.integer({ min: 1, max: 4 * MAX_REQUESTS }),
  kind,
  withSession: fc.boolean(),
  framing,
  declared: fc.integer({ min: 1, max: 1 << 20 }),
  sent: fc.nat({ max: 8192 }),
});

/** Returns how the stalled connections ended: 'answered 408' or 'closed' (each connection once). */
export async function checkStalledBody(ctx: FuzzContext, c: Value<typeof stalledBody>): Promise<string[]> {
  const { headers, bytes } = partialBody(c.framing, c.declared, Math.min(c.sent, c.declared - 1));
  const request = wire(
    ctx.url,
    'POST',
    ENDPOINT[c.kind],
    {
      'content-type': 'application/json',
      accept: ACCEPT,
      'mcp-protocol-version': '2025-06-18',
      ...(c.withSession ? { 'mcp-session-id': ctx.sessions[c.kind] } : {}),
      ...headers,
    },
    bytes,
  );
  const stalled = await Promise.all(Array.from({ length: c.connections }, () => writeAndStop(ctx.url, request, HANG_MS)));
  // While they wait for their bodies, a request of the same session is served: they hold no slot.
  await expectServed(ctx, c.kind);
  const ends: string[] = [];
  for (const { answer } of stalled) {
    const answered = await answer;
    // A 408 JSON-RPC error, or a connection closed without an answer; never left open.
    if (answered.text !== '') expectJsonError(answered, 408, ['ERR_MCP_AFFINITY_BODY_TIMEOUT']);
    ends.push(answered.text === '' ? 'closed' : 'answered 408');
  }
  await expectServed(ctx, c.kind);
  return ends;
}

// 2. A GET or DELETE declaring a body (any size, by length or chunked, some of it sent).
export const bodiedGetOrDelete = fc.record({
  method: fc.constantFrom('GET', 'DELETE'),
  kind,
  session: fc.constantFrom('own', 'none', 'random'),
  accept: fc.constantFrom('text/event-stream', ACCEPT, 'application/json'),
  framing,
  declared: fc.integer({ min: 1, max: 1 << 24 }),
  sent: fc.nat({ max: 4096 }),
});

export async function checkBodiedGetOrDelete(ctx: FuzzContext, c: Value<typeof bodiedGetOrDelete>): Promise<string> {
  const { headers, bytes } = partialBody(c.framing, c.declared, Math.min(c.sent, c.declared));
  const session = c.session === 'own' ? ctx.sessions[c.kind] : c.session === 'random' ? 'fuzz-no-such-session' : undefined;
  const request = wire(
    ctx.url,
    c.method,
    ENDPOINT[c.kind],
    { accept: c.accept, 'mcp-protocol-version': '2025-06-18', ...(session ? { 'mcp-session-id': session } : {}), ...headers },
    bytes,
  );
  const { answer } = await writeAndStop(ctx.url, request, HANG_MS);
  expectJsonError(await answer, 400, ['ERR_MCP_AFFINITY_UNEXPECTED_BODY']);
  // Refused unread: the session is untouched (a DELETE did not end it).
  await expectServed(ctx, c.kind);
  return `${c.method} ${c.framing}`;
}

// 5. Paths built from an endpoint by the mutations that reached Express's HTML 404 once.
const SUFFIXES = ['.json', '.html', '.', '/', '//', '%2F', '%2f', ';x=1', ';', '/.', '/..', '/./'];
const DOTS = ['/.', '/x/..', '/..', '/%2e'];
type Mutation = [number, number, number];

/** Applies one mutation at the `at`-th slash of `path` (counted modulo the slashes there are). */
function mutate(path: string, [what, at, pick]: Mutation): string {
  const slashes = [...path.matchAll(/\//g)].map((m) => m.index ?? 0);
  const i = slashes[at % slashes.length] ?? 0;
  const later = slashes.filter((s) => s > 0);
  const j = later.length > 0 ? (later[at % later.length] ?? 0) : -1;
  switch (what) {
    case 0: // a doubled slash
      return `${path.slice(0, i)}/${path.slice(i)}`;
    case 1: // a ;param at the end of a segment
      return `${path.slice(0, i || path.length)}${pick % 2 ? ';x=1' : ';'}${path.slice(i || path.length)}`;
    case 2: // a slash (not the first) encoded
      return j < 0 ? `${path}%2F` : `${path.slice(0, j)}${pick % 2 ? '%2f' : '%2F'}${path.slice(j + 1)}`;
    case 3: // a suffix
      return `${path}${SUFFIXES[pick % SUFFIXES.length]}`;
    default: // a dot segment
      return `${path.slice(0, i)}${DOTS[pick % DOTS.length]}${path.slice(i)}`;
  }
}

export const shapedPath = fc
  .record({
    base: fc.constantFrom('/mcp', '/servers/alpha/mcp', '/servers/beta/mcp', '/servers/conformance/mcp', '/servers/gamma/mcp'),
    mutations: fc.array(fc.tuple(fc.nat({ max: 4 }), fc.nat(), fc.nat()), { minLength: 1, maxLength: 3 }),
    method: fc.constantFrom('POST', 'GET', 'DELETE'),
    withSession: fc.boolean(),
  })
  .map((c) => ({ ...c, path: c.mutations.reduce(mutate, c.base) }))
  // An endpoint with one trailing slash is the endpoint (Express routes are not strict).
  .filter((c) => c.path !== c.base && c.path !== `${c.base}/`);

/** Returns the error code answered (unknown server, or no endpoint). */
export async function checkShapedPath(ctx: FuzzContext, c: Value<typeof shapedPath>): Promise<string> {
  const body = c.method === 'POST' ? JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) : '';
  const headers = {
    connection: 'close',
    accept: c.method === 'GET' ? 'text/event-stream' : ACCEPT,
    ...(c.method === 'POST' ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}),
    ...(c.withSession ? { 'mcp-session-id': ctx.sessions.alpha } : {}),
  };
  const { answer } = await writeAndStop(ctx.url, wire(ctx.url, c.method, c.path, headers, body), HANG_MS);
  const answered = await answer;
  expect(answered.headers['content-type']).not.toMatch(/html/);
  return expectJsonError(answered, 404, ['ERR_MCP_AFFINITY_NOT_FOUND', 'ERR_MCP_AFFINITY_UNKNOWN_SERVER']);
}
