/**
 * The bug this suite exists to make impossible (mcp-context-forge #3018): a session opened on
 * /servers/alpha/mcp, whose tools/list reaches a worker that does not own it, is forwarded to the
 * owner and comes back with every server's tools. The check below is run against the real wiring
 * (it must pass) and against wirings that skip or bypass serverScope on the forwarded branch (it
 * must fail), which proves that the check catches the bug.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type RequestHandler } from 'express';
import { readRawBody } from '../lib/http/body';
import { requestState } from '../lib/http/request-state';
import {
  type Catalog,
  createAffinityWorker,
  internalForwardGuard,
  MCP_PATHS,
  MemoryStore,
  rpcDispatch,
  type SessionStore,
  serverScope,
  sessionAffinity,
} from '../lib/index';
import { openSession, rpc, SECRET, startGateway, testCatalog, toolNames } from './helpers/gateway';

interface Worker {
  url: string;
  close(): Promise<void>;
}

/** The regression check: alpha's session, owned by `owner`, asked for tools/list through `other`. */
async function forwardedToolsListIsAlphaOnly(owner: Worker, other: Worker): Promise<void> {
  const sessionId = await openSession(`${owner.url}/servers/alpha/mcp`);
  const response = await rpc(
    `${other.url}/servers/alpha/mcp`,
    { jsonrpc: '2.0', id: 1, method: 'tools/list' },
    { 'mcp-session-id': sessionId },
  );
  expect(response.headers['mcp-affinity-forwarded']).toBe('true');
  expect(response.status).toBe(200);
  expect(toolNames(response)).toEqual(['add', 'echo']);
}

type Wiring = (parts: {
  affinity: RequestHandler;
  guard: RequestHandler;
  scope: RequestHandler;
  unscoped: RequestHandler;
  dispatch: RequestHandler;
}) => RequestHandler[];

/** A worker wired by hand from the four factories, the way a user (or a buggy gateway) might. */
async function startHandWired(store: SessionStore, catalog: Catalog, wiring: Wiring): Promise<Worker> {
  const worker = createAffinityWorker({ secret: SECRET, store, exposeWorkerHeaders: true });
  const parts = {
    affinity: sessionAffinity({ worker }),
    guard: internalForwardGuard({ worker }),
    scope: serverScope({ catalog }),
    // serverScope as it behaves on /mcp: the unscoped view.
    unscoped: ((req, res, next) => serverScope({ catalog })(Object.assign(req, { params: {} }), res, next)) as RequestHandler,
    dispatch: rpcDispatch({ worker, catalog }),
  };
  const app = express();
  app.all(MCP_PATHS, ...wiring(parts));
  await worker.listen(app);
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await worker.close();
    },
  };
}

const forwarded = (req: http.IncomingMessage): boolean => req.headers['x-forwarded-internally'] !== undefined;

describe('regression: forwarded tools/list keeps the virtual server scope', () => {
  const running: Worker[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((w) => w.close()));
  });

  test('mcpAffinity(): the forwarded answer is exactly alpha’s tools', async () => {
    const store = new MemoryStore();
    const catalog = testCatalog();
    const a = await startGateway({ store, catalog });
    const b = await startGateway({ store, catalog });
    running.push(a, b);
    await forwardedToolsListIsAlphaOnly(a, b);
  });

  test('the four factories in the documented order pass too', async () => {
    const store = new MemoryStore();
    const catalog = testCatalog();
    const order: Wiring = (p) => [p.affinity, p.guard, p.scope, p.dispatch];
    const a = await startHandWired(store, catalog, order);
    const b = await startHandWired(store, catalog, order);
    running.push(a, b);
    await forwardedToolsListIsAlphaOnly(a, b);
  });

  test.each<[string, Wiring]>([
    [
      'the forwarded branch skips serverScope',
      (p) => [
        p.affinity,
        p.guard,
        (req, res, next) => {
          if (!forwarded(req)) return p.scope(req, res, () => p.dispatch(req, res, next));
          // The bug itself: this branch skips serverScope, yet the gateway still hands rpcDispatch
          // a parsed body and a default (unscoped) view, as mcp-context-forge's forwarded branch did.
          void readRawBody(req, { bodyLimit: 1 << 20, bodyTimeoutMs: 10_000 }).then((body) => {
            const state = requestState(req);
            state.scope = { kind: 'all' };
            state.messages = JSON.parse(body.toString('utf8'));
            p.dispatch(req, res, next);
          });
        },
      ],
    ],
    [
      'the forwarded branch scopes as the unscoped endpoint',
      (p) => [p.affinity, p.guard, (req, res, next) => (forwarded(req) ? p.unscoped : p.scope)(req, res, () => p.dispatch(req, res, next))],
    ],
  ])('the check catches a wiring where %s', async (_name, wiring) => {
    const store = new MemoryStore();
    const catalog = testCatalog();
    const a = await startHandWired(store, catalog, wiring);
    const b = await startHandWired(store, catalog, wiring);
    running.push(a, b);
    // It fails on a scope check itself, never on the MISWIRED guard (500): the unscoped view reaches
    // rpcDispatch, which refuses the alpha-bound session there (404), or lists every server's tools.
    await expect(forwardedToolsListIsAlphaOnly(a, b)).rejects.toThrow(/Expected: 200\s+Received: 404|toEqual\(expected\)/);
  });
});
