/**
 * Property-based fuzzing (fast-check) of examples/multi-worker running as a real three-worker
 * cluster: generated methods, paths, session ids, headers, protocol versions and bodies, each sent
 * over a new connection (so most land on a worker that does not own the session).
 *
 * Every answer must be a well-formed HTTP response; every error must carry a JSON-RPC error body;
 * no input may cause a 5xx or a crash; a scoped session never sees another server's tool.
 *
 * Then the hardening cases, each generated (test/helpers/fuzz-cases.ts): 1. bodies that never
 * arrive hold no slot; 2. GET and DELETE bodies are refused unread; 3. batches without
 * MCP-Protocol-Version follow the negotiated version and count each call; 4. an id in flight is
 * refused; 5. paths shaped like MCP endpoints answer JSON 404. Case 6 (the example exits 1 when it
 * cannot bind its port) is test/e2e/example-port-in-use.test.ts. Then the per-worker bounds, on
 * chosen workers (test/helpers/fuzz-slots.ts): 7. calls held in flight through worker B on
 * sessions owned by A take B's slots only, none of A's; 8. open streams (GET, 2026-07-28 listen)
 * past maxOpenStreams are refused with a 503 JSON-RPC error (asserted in that case: the no-5xx rule
 * stands for every other input), and a closed stream frees its slot. The cluster runs with a short
 * body timeout and few slots per worker, per session and for streams (FUZZ_CLUSTER_ENV) so that
 * they are reached.
 */
import fc from 'fast-check';
import { type ExampleCluster, startExampleCluster } from '../helpers/example-cluster';
import { hardeningCases } from '../helpers/fuzz-cases';
import { FUZZ_CLUSTER_ENV, type FuzzContext } from '../helpers/fuzz-hardening';
import { openSessionAt } from '../helpers/fuzz-sessions';
import { parseRequests, send } from '../helpers/fuzz-wire';
import { ACCEPT, initializeBody, rpc, rpcMessages } from '../helpers/gateway';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2500);
const TIME_LIMIT_MS = Number(process.env.FUZZ_TIME_LIMIT_MS ?? 40_000);
const TOOLS = { alpha: ['add', 'echo'], beta: ['reverse', 'whoami'] } as const;

type SessionKind = 'none' | 'alpha' | 'beta' | 'unscoped' | 'random' | 'foreign-worker';

describe('fuzzing a real cluster', () => {
  let cluster: ExampleCluster;
  const sessions: Record<'alpha' | 'beta' | 'unscoped', string> = { alpha: '', beta: '', unscoped: '' };
  const endpointOf = { alpha: '/servers/alpha/mcp', beta: '/servers/beta/mcp', unscoped: '/mcp' } as const;

  const open = async (kind: 'alpha' | 'beta' | 'unscoped'): Promise<void> => {
    const init = await rpc(`${cluster.url}${endpointOf[kind]}`, initializeBody());
    sessions[kind] = String(init.headers['mcp-session-id']);
    await rpc(
      `${cluster.url}${endpointOf[kind]}`,
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { 'mcp-session-id': sessions[kind] },
    );
  };

  const ctx: FuzzContext = { url: '', sessions, legacy: '', conformance: '' };

  beforeAll(async () => {
    // Short body timeout, few slots per worker and per session: the hardening cases reach them.
    cluster = await startExampleCluster(3, { env: FUZZ_CLUSTER_ENV });
    await Promise.all((['alpha', 'beta', 'unscoped'] as const).map(open));
    Object.assign(ctx, {
      url: cluster.url,
      legacy: await openSessionAt(cluster.url, endpointOf.alpha, '2025-03-26'),
      conformance: await openSessionAt(cluster.url, '/servers/conformance/mcp', '2025-06-18', { sampling: {} }),
    });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test(`${RUNS} generated requests: well-formed answers, JSON-RPC errors, no 5xx, no crash, no leak`, async () => {
    const seenStatuses = new Map<number, number>();
    const method = fc.constantFrom('POST', 'POST', 'POST', 'GET', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD');
    const serverSegment = fc.oneof(
      fc.constantFrom(
        'alpha',
        'beta',
        'ALPHA',
        'gamma',
        '',
        '..',
        '.',
        '%2e%2e',
        '%',
        '%zz',
        '%E0%A4%A',
        'alpha%2Fbeta',
        'a%20b',
        '-x',
        'x'.repeat(65),
      ),
      fc.string({ maxLength: 20 }).map(encodeURIComponent),
    );
    const path = fc.oneof(
      fc.constantFrom(
        '/mcp',
        '/mcp/',
        '/MCP',
        '/servers/alpha/mcp',
        '/servers/beta/mcp',
        '/servers/alpha/mcp/',
        '/servers//mcp',
        '/servers/a/b/mcp',
      ),
      serverSegment.map((id) => `/servers/${id}/mcp`),
      fc
        .tuple(fc.constantFrom('/mcp', '/servers/alpha/mcp'), fc.string({ maxLength: 12 }))
        .map(([p, q]) => `${p}?${encodeURIComponent(q)}=1`),
    );
    const sessionKind = fc.constantFrom<SessionKind>('none', 'alpha', 'alpha', 'beta', 'unscoped', 'random', 'foreign-worker');
    const randomId = fc.stringMatching(/^[\x21-\x7e]{1,80}$/);
    const contentType = fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/vnd.x+json',
      '',
    );
    const accept = fc.constantFrom(ACCEPT, 'application/json', 'text/event-stream', '*/*', '');
    const version = fc.constantFrom('2025-03-26', '2025-06-18', '2025-11-25', '2026-07-28', '2024-11-05', 'garbage', '');
    const internalHeader = fc.option(fc.constantFrom('true', 'TRUE', '1', 'false', ''), { nil: undefined });
    const rpcMethod = fc.constantFrom(
      'initialize',
      'ping',
      'tools/list',
      'tools/call',
      'resources/list',
      'resources/read',
      'resources/templates/list',
      'prompts/list',
      'prompts/get',
      'notifications/initialized',
      'notifications/cancelled',
      'logging/setLevel',
      'completion/complete',
      'nope',
    );
    const toolName = fc.constantFrom('echo', 'add', 'reverse', 'whoami', 'nope', '');
    const message = fc.record(
      {
        jsonrpc: fc.constantFrom('2.0', '2.0', '1.0', 2),
        id: fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null), fc.boolean()),
        method: rpcMethod,
        params: fc.oneof(
          fc.constant(undefined),
          fc.constant(null),
          fc.record(
            { name: toolName, arguments: fc.oneof(fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue()), fc.jsonValue()) },
            { requiredKeys: [] },
          ),
          fc.record({ server_id: fc.constantFrom('alpha', 'beta', 'x'), cursor: fc.string({ maxLength: 5 }) }, { requiredKeys: [] }),
          fc.jsonValue(),
        ),
      },
      { requiredKeys: ['method'] },
    );
    const body = fc.oneof(
      message.map((m) => JSON.stringify(m)),
      fc.array(message, { maxLength: 4 }).map((ms) => JSON.stringify(ms)),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 200 }),
      fc.constant(''),
    );

    // Wild cases: anything goes.
    const wild = fc.tuple(method, path, sessionKind, randomId, contentType, accept, version, internalHeader, body);
    // Plausible cases: a real session on its own endpoint (or a neighbour's), proper headers, a
    // JSON-RPC 2.0 request of a real method, so that fuzzing reaches the dispatcher and the tools.
    const plausible = fc
      .tuple(
        fc.constantFrom<SessionKind>('alpha', 'beta', 'unscoped'),
        fc.constantFrom('own', 'own', 'own', 'alpha', 'beta', 'unscoped'),
        fc.constantFrom('2025-06-18', '2025-11-25', '2025-03-26'),
        fc.record({
          jsonrpc: fc.constant('2.0'),
          id: fc.integer({ min: 1, max: 1e6 }),
          method: fc.constantFrom('tools/list', 'tools/call', 'tools/call', 'tools/call', 'ping', 'resources/list', 'prompts/list'),
          params: fc.record(
            {
              name: toolName,
              arguments: fc.oneof(
                fc.record({ text: fc.string({ maxLength: 30 }) }),
                fc.record({ a: fc.double(), b: fc.integer() }),
                fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue()),
              ),
              server_id: fc.constantFrom('alpha', 'beta', 'zzz'),
            },
            { requiredKeys: [] },
          ),
        }),
      )
      .map(([kind, where, v, m]) => {
        const endpoint =
          where === 'own' ? endpointOf[kind as 'alpha' | 'beta' | 'unscoped'] : endpointOf[where as 'alpha' | 'beta' | 'unscoped'];
        return ['POST', endpoint, kind, 'x', 'application/json', ACCEPT, v, undefined, JSON.stringify(m)] as const;
      });
    const property = fc.asyncProperty(
      fc.oneof({ weight: 1, arbitrary: wild }, { weight: 1, arbitrary: plausible }),
      async ([verb, target, kind, random, type, acceptValue, protocolVersion, internal, payload]) => {
        const headers: Record<string, string> = {};
        if (type) headers['content-type'] = type;
        if (acceptValue) headers.accept = acceptValue;
        if (protocolVersion) headers['mcp-protocol-version'] = protocolVersion;
        if (internal !== undefined) headers['x-forwarded-internally'] = internal;
        const sessionId =
          kind === 'none'
            ? undefined
            : kind === 'random'
              ? random
              : kind === 'foreign-worker'
                ? `${[...cluster.workers.keys()][0]}.${random.replace(/[^A-Za-z0-9_-]/g, 'x')}`
                : sessions[kind];
        if (sessionId) headers['mcp-session-id'] = sessionId;
        const withBody = verb === 'POST' || verb === 'PUT' || verb === 'PATCH';
        const answer = await send(cluster.url, target, verb, headers, withBody ? payload : undefined);
        seenStatuses.set(answer.status, (seenStatuses.get(answer.status) ?? 0) + 1);

        // Well-formed, never a 5xx for input.
        expect(answer.status).toBeGreaterThanOrEqual(200);
        expect(answer.status).toBeLessThan(500);
        // Every error is a JSON-RPC error body (HEAD answers carry no body by definition).
        if (answer.status >= 400 && verb !== 'HEAD') {
          expect(answer.headers['content-type']).toMatch(/^application\/json/);
          const parsed = JSON.parse(answer.body);
          expect(parsed.jsonrpc).toBe('2.0');
          expect(Number.isInteger(parsed.error.code)).toBe(true);
          expect(typeof parsed.error.message).toBe('string');
        }
        // A scoped session never sees another server's tool, whichever worker received it.
        if (answer.status === 200 && (kind === 'alpha' || kind === 'beta') && answer.body) {
          const calledTool = new Map<unknown, string>();
          for (const m of parseRequests(payload)) if (m.method === 'tools/call') calledTool.set(m.id, String(m.params?.name));
          for (const m of rpcMessages(answer.headers['content-type'], answer.body)) {
            for (const tool of m?.result?.tools ?? []) expect(TOOLS[kind]).toContain(tool.name);
            // A tool call that succeeded called a tool of this session's server.
            if (m?.result?.content && !m.result.isError && calledTool.has(m.id)) expect(TOOLS[kind]).toContain(calledTool.get(m.id));
          }
        }
        // A DELETE may end a pooled session; open a new one for the next cases.
        if (verb === 'DELETE' && answer.status === 200 && (kind === 'alpha' || kind === 'beta' || kind === 'unscoped')) await open(kind);
      },
    );

    await fc.assert(property, { numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false });

    // The cluster never lost a worker, and the fuzzing reached deep: sessions were served.
    expect(cluster.output()).not.toMatch(/exited/);
    for (const pid of cluster.workers.values()) expect(() => process.kill(pid, 0)).not.toThrow();
    expect(seenStatuses.get(200) ?? 0).toBeGreaterThan(Math.min(RUNS, 1000) / 5);
    const total = [...seenStatuses.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(Math.min(RUNS, 1000));
    console.log(`fuzz: ${total} cases; statuses ${JSON.stringify(Object.fromEntries([...seenStatuses].sort((a, b) => a[0] - b[0])))}`);
  }, 90_000);

  describe('the hardening cases, generated', () => hardeningCases(() => ({ cluster, ctx })));
});
