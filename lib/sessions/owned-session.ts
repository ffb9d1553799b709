/**
 * One session this worker owns: the SDK `Server` and the transport it runs on, the state
 * the client asked for, and the counters the registry's lifecycle reads.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { authOf } from '../auth/principal.js';
import { idOf } from '../mcp/message-checks.js';
import type { SessionSnapshot } from '../types.js';
import type { SessionState } from './sdk-server.js';
import type { SessionTransport } from './session-transport.js';

export class OwnedSession {
  /** When a request of this session last started or ended (ms since the epoch). */
  lastActivity = Date.now();
  /** Calls being served now, open streams included: a busy session never idles out. */
  active = 0;
  /** The JSON-RPC ids of the requests in flight. */
  readonly inFlight = new Set<string | number>();

  constructor(
    readonly id: string,
    /** `'*'` for `/mcp`, otherwise the virtual server id. */
    readonly scope: string,
    readonly server: Server,
    readonly transport: SessionTransport,
    readonly state: SessionState,
    /** The store record's epoch when this worker took the session: its fence. */
    readonly epoch: number,
    /** The client's `initialize` params, for the store record's snapshot. */
    readonly init: SessionSnapshot['init'],
    /** Who opened the session (`principalOf`); `undefined` without authentication. */
    readonly principal: string | undefined,
    /** When it was initialized (ms since the epoch), wherever it lives now. */
    readonly createdAt: number,
  ) {}

  /** What a rebuild needs, as the store record keeps it. */
  snapshot(): SessionSnapshot {
    return {
      init: this.init,
      ...(this.principal === undefined ? {} : { principal: this.principal }),
      createdAt: this.createdAt,
      ...(this.state.logLevel === undefined ? {} : { logLevel: this.state.logLevel }),
      ...(this.state.subscriptions.size === 0 ? {} : { subscriptions: [...this.state.subscriptions] }),
    };
  }

  /** The resource URIs the session subscribed to. */
  get subscriptions(): ReadonlySet<string> {
    return this.state.subscriptions;
  }

  /** Serves one request of this session through its transport. */
  handle(req: IncomingMessage, res: ServerResponse, messages: unknown): Promise<void> {
    if (req.method === 'POST') this.cancelOnDisconnect(res, messages);
    return this.transport.handle(req, res, messages, authOf(req));
  }

  /**
   * A client that goes away (or a forwarding worker whose client went away) cancels its requests:
   * the SDK's own `notifications/cancelled` handling aborts the handlers' signals.
   */
  private cancelOnDisconnect(res: ServerResponse, messages: unknown): void {
    const ids = (Array.isArray(messages) ? messages : [messages])
      .filter((m) => typeof m?.method === 'string')
      .map(idOf)
      .filter((id) => id !== null);
    if (ids.length === 0) return;
    res.once('close', () => {
      if (res.writableFinished) return;
      for (const requestId of ids) {
        this.transport.onmessage?.({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId, reason: 'the client disconnected' },
        });
      }
    });
  }

  /** Ends the SDK objects (open streams close). The registry forgets the session separately. */
  async close(): Promise<void> {
    await this.server.close();
  }
}
