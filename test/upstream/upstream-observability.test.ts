/**
 * An upstream is bounded while its answer streams, and observable: an answer past maxAnswerBytes
 * is cut as it arrives (the upstream's request cancelled), each upstream request carries a child
 * of the client's `traceparent`, and per-upstream metrics count latency, errors, open upstream
 * sessions and unavailability. Real SDK upstream and downstream, a real prom-client registry.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import * as promClient from 'prom-client';
import { createCatalog, type MemoryCatalog, newConnectionFetch, type UpstreamSpan, upstream } from '../../lib/index';
import { type RunningGateway, rpc, startGateway } from '../helpers/gateway';
import { freePort } from '../helpers/ports';
import { startUpstreamServer, type UpstreamServer } from '../helpers/upstream-server';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

describe('an upstream, bounded and observed', () => {
  let up: UpstreamServer;
  let gateway: RunningGateway;
  let catalog: MemoryCatalog;
  const registry = new promClient.Registry();
  const spans: UpstreamSpan[] = [];
  beforeAll(async () => {
    up = await startUpstreamServer(0, { sessionTools: true });
    const metrics = { promClient, registry };
    const bounded = upstream(
      { url: up.url, prefix: 'up_', name: 'up', maxAnswerBytes: 4096, metrics, onSpan: (span) => void spans.push(span) },
      quiet,
    );
    const gone = upstream({ url: `http://127.0.0.1:${await freePort()}/mcp`, name: 'gone', metrics }, quiet);
    catalog = createCatalog({ fed: { ...bounded }, dead: { ...gone } }, { logger: quiet });
    await Promise.all([bounded.upstreams[0]!.ready(), gone.upstreams[0]!.ready()]);
    gateway = await startGateway({ catalog });
  });
  afterAll(async () => {
    await gateway?.close();
    await catalog?.close();
    await up?.close();
  });

  async function connect(headers: Record<string, string> = {}): Promise<Client> {
    const client = new Client({ name: 'downstream', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${gateway.url}/servers/fed/mcp`), {
        fetch: newConnectionFetch(),
        requestInit: { headers },
      }),
    );
    return client;
  }

  test('an answer past maxAnswerBytes is cut while it streams: the call fails naming the upstream, the upstream request is cancelled', async () => {
    const client = await connect();
    try {
      const cancelled = up.nextCancel();
      // `flood` sends 10 KiB on its stream, then never answers: only a cut can end the call.
      await expect(client.callTool({ name: 'up_flood', arguments: {} })).rejects.toThrow(
        /Upstream up: tools\/call flood: an answer of \d+ bytes, over maxAnswerBytes \(4096\); cut while it streamed/,
      );
      await cancelled;
      expect(up.log).toContain('cancelled flood');
    } finally {
      await client.close();
    }
  });

  test("each upstream request carries a child of the client's traceparent", async () => {
    const client = await connect({ traceparent: TRACEPARENT });
    try {
      const before = up.traceparents.length;
      await client.callTool({ name: 'up_whoami' });
      const sent = up.traceparents.slice(before);
      expect(sent.length).toBeGreaterThan(0);
      for (const traceparent of sent) {
        const [version, traceId, spanId, flags] = traceparent.split('-');
        expect([version, traceId, flags]).toEqual(['00', TRACE_ID, '01']);
        expect(spanId).toMatch(/^[0-9a-f]{16}$/);
        expect(spanId).not.toBe('00f067aa0ba902b7');
      }
    } finally {
      await client.close();
    }
  });

  test('metrics per upstream: latency by outcome, errors by kind, open upstream sessions, unavailability', async () => {
    const client = await connect();
    try {
      await client.callTool({ name: 'up_whoami' });
      await client.callTool({ name: 'up_whoami' });
      const text = await registry.metrics();
      const value = (line: string) => Number(new RegExp(`^${line.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)?.[1]);
      expect(
        value('mcp_affinity_upstream_request_duration_seconds_count{upstream="up",method="tools/call",outcome="ok"}'),
      ).toBeGreaterThanOrEqual(2);
      expect(value('mcp_affinity_upstream_errors_total{upstream="up",kind="answer_too_large"}')).toBe(1);
      // Open now: the shared listing session, and one for each downstream session alive here (every
      // one of them called the upstream; a closed client that sent no DELETE lives on until it idles out).
      expect(gateway.router.worker.sessions.size).toBe(3);
      expect(value('mcp_affinity_upstream_sessions_open{upstream="up"}')).toBe(4);
      expect(value('mcp_affinity_upstream_unavailable{upstream="gone"}')).toBe(1);
      expect(value('mcp_affinity_upstream_unavailable{upstream="up"}')).toBe(0);
    } finally {
      await client.close();
    }
    // A 2026-07-28 request has no session: it goes through the shared one (no new upstream session).
    const opened = up.opened.length;
    const sessionless = await rpc(
      `${gateway.url}/servers/fed/mcp`,
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'up_whoami', arguments: {}, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } },
      },
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'up_whoami', traceparent: TRACEPARENT },
    );
    expect(sessionless.status).toBe(200);
    // Its traceparent reaches the upstream too, as a child.
    expect(up.traceparents.at(-1)).toMatch(new RegExp(`^00-${TRACE_ID}-(?!00f067aa0ba902b7)[0-9a-f]{16}-01$`));
    expect(sessionless.body).toContain(up.opened[0]);
    expect(up.opened.length).toBe(opened);
  });

  test('onSpan: one span per call, whose traceparent the upstream received, child of the client’s; a failed call’s span says why', async () => {
    const client = await connect({ traceparent: TRACEPARENT });
    try {
      spans.length = 0;
      const before = up.traceparents.length;
      await client.callTool({ name: 'up_whoami' });
      expect(spans).toHaveLength(1);
      const [span] = spans;
      expect(span).toMatchObject({
        name: 'tools/call whoami',
        upstream: 'up',
        method: 'tools/call',
        item: 'whoami',
        outcome: 'ok',
        parent: TRACEPARENT,
      });
      expect(span!.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-(?!00f067aa0ba902b7)[0-9a-f]{16}-01$`));
      expect(new Set(up.traceparents.slice(before))).toEqual(new Set([span!.traceparent]));
      expect(span!.durationMs).toBeGreaterThanOrEqual(0);
      await expect(client.callTool({ name: 'up_flood', arguments: {} })).rejects.toThrow(/over maxAnswerBytes/);
      expect(spans[1]).toMatchObject({
        name: 'tools/call flood',
        outcome: 'error',
        error: expect.stringMatching(/^Upstream up: tools\/call flood: an answer of/),
      });
    } finally {
      await client.close();
    }
    // Without a traceparent from the client, a trace of its own (onSpan is set).
    const bare = await connect();
    try {
      spans.length = 0;
      await bare.callTool({ name: 'up_whoami' });
      expect(spans[0]!.parent).toBeUndefined();
      expect(spans[0]!.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(spans[0]!.traceparent).not.toContain(TRACE_ID);
    } finally {
      await bare.close();
    }
  });
});
