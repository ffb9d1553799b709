/**
 * A worker's internal listener, distinct from the public port: peers forward only there. It runs
 * the same request handler as the public one (the user's app, or the router alone), so a
 * forwarded request passes through the same chain.
 */
import http, { type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type GracefulClose, trackConnections } from './http/graceful-close.js';
import type { InternalListen } from './options/worker-config.js';
import type { WorkerRecord } from './types.js';

/**
 * How long a close waits for a peer's request still arriving on a new connection (it gets 421
 * and retries elsewhere, where a reset would have failed it) or for an answer still being written.
 */
const CLOSE_GRACE_MS = 1_000;

export class InternalListener {
  private server: http.Server | undefined;
  private connections: GracefulClose | undefined;

  constructor(private readonly where: InternalListen) {}

  /** Starts listening; resolves with the record peers use to reach this worker. */
  async listen(workerId: string, handler: RequestListener): Promise<WorkerRecord> {
    if (this.server) throw new Error(`AffinityWorker ${workerId}: listen() was already called`);
    const server = http.createServer(handler);
    // Longer than the agent keeps idle sockets, so a peer never writes to a socket we just closed.
    server.keepAliveTimeout = 65_000;
    this.server = server;
    this.connections = trackConnections(server);
    const where = this.where;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const onListening = (): void => (server.off('error', reject), resolve());
      if (where.kind === 'socket') server.listen({ path: where.socketPath, exclusive: true }, onListening);
      // exclusive: in a cluster worker, port 0 would otherwise be one port shared by all workers.
      else server.listen({ host: where.host, port: where.port, exclusive: true }, onListening);
    });
    if (where.kind === 'socket') return { workerId, internalUrl: 'http://localhost', socketPath: where.socketPath };
    const host = where.advertisedHost.includes(':') ? `[${where.advertisedHost}]` : where.advertisedHost;
    return { workerId, internalUrl: `http://${host}:${where.advertisedPort ?? (server.address() as AddressInfo).port}` };
  }

  /**
   * Stops listening, answers the requests already on their way in, then closes every connection;
   * what is still open after a grace period is destroyed.
   */
  async close(): Promise<void> {
    await this.connections?.close(CLOSE_GRACE_MS);
  }
}
