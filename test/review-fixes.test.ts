/**
 * Behaviours a review asked to pin down: ends of sessions counted by reason, listeners and timers
 * gone with close(), bodies another parser consumed, duplicate worker ids, resumable streams
 * through a non-owner.
 */
import http from 'node:http';
import express from 'express';
import * as promClient from 'prom-client';
import { MemoryEventStore, MemoryStore } from '../lib/index';
import { ACCEPT, Gate, initializeBody, openSession, rpc, startGateway, testCatalog } from './helpers/gateway';
import { deferred, waitFor } from './helpers/wait';

test('an idle session is counted as expired; closing the worker removes its catalog listeners', async () => {
  const registry = new promClient.Registry();
  const catalog = testCatalog();
  const listeners = (): number => (catalog as unknown as { listeners: Set<unknown> }).listeners.size;
  const before = listeners();
  const gateway = await startGateway({ catalog, sessionIdleTimeoutMs: 100, metrics: { promClient, registry } });
  expect(listeners()).toBe(before + 1);
  await openSession(`${gateway.url}/servers/alpha/mcp`);
  // The idle sweep announces nothing a test can hook: poll the counter it increments.
  const expired = new RegExp(`sessions_ended_total\\{worker="${gateway.workerId}",reason="expired"\\} 1`);
  await waitFor(async () => expired.test(await registry.metrics()), { what: 'an expired session counted' });
  expect(await registry.metrics()).toMatch(expired);
  await gateway.close();
  expect(listeners()).toBe(before);
});

test('close() cuts a drain short: no timer outlives it', async () => {
  const gateway = await startGateway({ catalog: testCatalog() });
  const drained = gateway.router.drain(60_000);
  await gateway.close();
  // A drain still waiting for its 60 s period would leave this pending past the test timeout.
  await drained;
});

test('a body an earlier parser consumed as raw bytes is used as it was', async () => {
  const gateway = await startGateway({ catalog: testCatalog() }, (app, router) => {
    app.use(express.raw({ type: 'application/json' }));
    app.use(router);
  });
  try {
    const init = await rpc(`${gateway.url}/servers/alpha/mcp`, initializeBody());
    expect(init.status).toBe(200);
    expect(init.messages()[0].result.serverInfo.name).toBe('express-mcp-affinity');
  } finally {
    await gateway.close();
  }
});

test('MemoryStore refuses a second live worker with the same id', async () => {
  const store = new MemoryStore();
  await store.registerWorker({ workerId: 'w1', internalUrl: 'http://127.0.0.1:1' });
  await expect(store.registerWorker({ workerId: 'w1', internalUrl: 'http://127.0.0.1:2' })).rejects.toThrow(
    /already registered by another live worker/,
  );
});

test('a stream lost on a non-owner resumes with Last-Event-ID through it: the missed events and the result arrive', async () => {
  const store = new MemoryStore();
  const gates: Gate[] = [];
  const catalog = testCatalog([], gates);
  const eventStore = new MemoryEventStore();
  // The owner stores the tool's result as an event: that is when "the tool finished" is true.
  const resultStored = deferred();
  const storeEvent = eventStore.storeEvent.bind(eventStore);
  eventStore.storeEvent = async (streamId, message) => {
    const id = await storeEvent(streamId, message);
    if (JSON.stringify(message).includes('slow done')) resultStored.resolve();
    return id;
  };
  const a = await startGateway({ store, catalog, eventStore });
  const otherEventStore = new MemoryEventStore();
  const b = await startGateway({ store, catalog, eventStore: otherEventStore });
  try {
    const session = await openSession(`${a.url}/servers/gamma/mcp`);
    const gate = new Gate();
    gates.push(gate);
    // Read the first event (its id), then lose the connection.
    const firstId = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${b.url}/servers/gamma/mcp`, {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          const id = /(?:^|\n)id: ?(\S+)\n(?:[^\n]*\n)*?data: ?\{[^\n]*notifications\/progress/.exec(text)?.[1];
          if (id) {
            resolve(id);
            req.destroy();
          }
        });
        res.on('error', () => undefined);
      });
      req.on('error', () => undefined);
      req.end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: 5,
          method: 'tools/call',
          params: { name: 'slow', arguments: {}, _meta: { progressToken: 'p' } },
        }),
      );
      setTimeout(() => reject(new Error('no first event')), 5000).unref();
    });
    gate.release();
    await resultStored.promise; // the tool finishes on the owner while nobody listens
    const resumed = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${b.url}/servers/gamma/mcp`, {
        method: 'GET',
        agent: false,
        headers: { accept: 'text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18', 'last-event-id': firstId },
      });
      req.on('response', (res) => {
        expect(res.headers['mcp-affinity-forwarded']).toBe('true');
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          if (text.includes('slow done')) {
            resolve(text);
            req.destroy();
          }
        });
        res.on('error', () => undefined);
      });
      req.on('error', reject);
      req.end();
      setTimeout(() => reject(new Error('the missed events did not arrive')), 5000).unref();
    });
    expect(resumed).toMatch(/"progress":2/);
    expect(resumed).toMatch(/"text":"slow done".*"id":5\}/);
    expect(resumed).not.toMatch(/"progress":1[,}]/);
  } finally {
    for (const gate of gates) gate.release();
    eventStore.close();
    otherEventStore.close();
    await Promise.all([a.close(), b.close()]);
  }
});
