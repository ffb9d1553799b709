/**
 * What operators see: Prometheus metrics, structured debug lines, W3C trace context across the
 * hop, and the route header a load balancer can learn. Two workers in this process.
 */

import * as promClient from 'prom-client';
import { childTraceparent } from '../lib/hop/trace';
import { MemoryStore } from '../lib/index';
import { openSession, type RunningGateway, rawRequest, rpc, startGateway, testCatalog } from './helpers/gateway';

describe('observability', () => {
  const running: RunningGateway[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((g) => g.close()));
  });

  test('metrics: forwards by outcome with latency, lookups, refused hops by reason, sessions owned and ended', async () => {
    const registry = new promClient.Registry();
    const store = new MemoryStore();
    const catalog = testCatalog();
    const a = await startGateway({ store, catalog, metrics: { promClient, registry } });
    const b = await startGateway({ store, catalog, metrics: { promClient, registry } });
    running.push(a, b);
    const session = await openSession(`${a.url}/servers/alpha/mcp`);
    await openSession(`${a.url}/servers/beta/mcp`);
    for (let i = 0; i < 3; i++)
      await rpc(`${b.url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: i, method: 'tools/list' }, { 'mcp-session-id': session });
    await rpc(`${a.url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: 9, method: 'tools/list' }, { 'mcp-session-id': session });
    await rpc(
      `${a.url}/servers/alpha/mcp`,
      { jsonrpc: '2.0', id: 10, method: 'ping' },
      { 'x-forwarded-internally': 'true', 'mcp-session-id': session },
    );
    await rawRequest(`${b.url}/servers/alpha/mcp`, {
      method: 'DELETE',
      headers: { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
    });

    const text = await registry.metrics();
    const value = (pattern: string): number => Number(new RegExp(`^${pattern} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    expect(value(`mcp_affinity_forwards_total\\{worker="${b.workerId}",outcome="ok"\\}`)).toBe(4); // 3 lists + the DELETE
    expect(value(`mcp_affinity_forward_duration_seconds_count\\{worker="${b.workerId}"\\}`)).toBe(4);
    expect(value(`mcp_affinity_owner_lookups_total\\{worker="${b.workerId}",result="hit"\\}`)).toBe(4);
    // Two notifications/initialized and one tools/list reached A directly; hops are not looked up again.
    expect(value(`mcp_affinity_owner_lookups_total\\{worker="${a.workerId}",result="owned"\\}`)).toBe(3);
    expect(value(`mcp_affinity_hops_refused_total\\{worker="${a.workerId}",reason="missing-signature"\\}`)).toBe(1);
    expect(value(`mcp_affinity_sessions_ended_total\\{worker="${a.workerId}",reason="deleted"\\}`)).toBe(1);
    expect(value(`mcp_affinity_sessions_owned\\{worker="${a.workerId}"\\}`)).toBe(1);
    expect(value(`mcp_affinity_sessions_owned\\{worker="${b.workerId}"\\}`)).toBe(0);
  });

  test('metrics: a wrong promClient is refused at creation, naming the option', async () => {
    await expect(startGateway({ catalog: testCatalog(), metrics: { promClient: {} as never } })).rejects.toThrow(
      /`metrics.promClient` received an object/,
    );
  });

  test('one structured debug line per forward and per refusal; session ids never logged', async () => {
    const lines: unknown[][] = [];
    const logger = { info: () => {}, warn: () => {}, error: () => {}, debug: (...args: unknown[]) => lines.push(args) };
    const store = new MemoryStore();
    const a = await startGateway({ store, catalog: testCatalog(), logger });
    const b = await startGateway({ store, catalog: testCatalog(), logger });
    running.push(a, b);
    const session = await openSession(`${a.url}/servers/alpha/mcp`);
    await rpc(`${b.url}/servers/alpha/mcp?x=1`, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'mcp-session-id': session });
    await rpc(`${a.url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: 2, method: 'ping' }, { 'x-forwarded-internally': 'yes' });

    const events = lines.map(([fields]) => fields as Record<string, unknown>);
    expect(events.filter((e) => e.event === 'mcp_affinity.forward')).toEqual([
      {
        event: 'mcp_affinity.forward',
        method: 'POST',
        path: '/servers/alpha/mcp',
        session: expect.stringMatching(/^[\w-]{12}$/),
        from: b.workerId,
        to: a.workerId,
        status: 200,
        ms: expect.any(Number),
      },
    ]);
    expect(events.filter((e) => e.event === 'mcp_affinity.hop_refused')).toEqual([
      expect.objectContaining({ reason: 'bad-marker', worker: a.workerId }),
    ]);
    expect(JSON.stringify(lines)).not.toContain(session.split('.')[1]);
  });

  test('W3C trace context crosses the hop: same trace, a new parent span, tracestate names the receiver', async () => {
    const store = new MemoryStore();
    const a = await startGateway({ store, catalog: testCatalog() });
    const b = await startGateway({ store, catalog: testCatalog() });
    running.push(a, b);
    const session = await openSession(`${a.url}/servers/alpha/mcp`);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const clientSpan = '00f067aa0ba902b7';
    await rpc(
      `${b.url}/servers/alpha/mcp`,
      { jsonrpc: '2.0', id: 1, method: 'ping' },
      {
        'mcp-session-id': session,
        traceparent: `00-${traceId}-${clientSpan}-01`,
        tracestate: 'vendor=abc',
      },
    );
    const hop = a.seen.filter((r) => r.internal).at(-1)!;
    const [version, trace, parent, flags] = String(hop.headers.traceparent).split('-');
    expect([version, trace, flags]).toEqual(['00', traceId, '01']);
    expect(parent).toMatch(/^[0-9a-f]{16}$/);
    expect(parent).not.toBe(clientSpan);
    expect(hop.headers.tracestate).toBe(`mcpaffinity=${b.workerId},vendor=abc`);
    // Without a (valid) traceparent, none is invented.
    expect(childTraceparent(undefined)).toBeUndefined();
    expect(childTraceparent(`00-${'0'.repeat(32)}-${clientSpan}-01`)).toBeUndefined();
    expect(childTraceparent('garbage')).toBeUndefined();
  });

  test('routeHeader names the owner on every answer of its sessions, local or forwarded', async () => {
    const store = new MemoryStore();
    const a = await startGateway({ store, catalog: testCatalog(), routeHeader: 'mcp-affinity-route' });
    const b = await startGateway({ store, catalog: testCatalog(), routeHeader: 'mcp-affinity-route' });
    running.push(a, b);
    const init = await rpc(`${a.url}/servers/alpha/mcp`, {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    });
    expect(init.headers['mcp-affinity-route']).toBe(a.workerId);
    const session = String(init.headers['mcp-session-id']);
    const forwarded = await rpc(`${b.url}/servers/alpha/mcp`, { jsonrpc: '2.0', id: 2, method: 'ping' }, { 'mcp-session-id': session });
    expect(forwarded.headers['mcp-affinity-forwarded']).toBe('true');
    expect(forwarded.headers['mcp-affinity-route']).toBe(a.workerId);
  });
});
