/**
 * A worker's internal listener, distinct from the public port: peers forward only there. It runs
 * the same request handler as the public one (the user's app, or the router alone), so a
 * forwarded request passes through the same chain.
 */
import http, { type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InternalListen } from './options/worker-config.js';
import type { WorkerRecord } from './types.js';

export class InternalListener {
  private server: http.Server | undefined;

  constructor(private readonly where: InternalListen) {}

  /** Starts listening; resolves with the record peers use to reach this worker. */
  async listen(workerId: string, handler: RequestListener): Promise<WorkerRecord> {
    if (this.server) throw new Error(`AffinityWorker ${workerId}: listen() was already called`);
    const server = http.createServer(handler);
    // Longer than the agent keeps idle sockets, so a peer never writes to a socket we just closed.
    server.keepAliveTimeout = 65_000;
    this.server = server;
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

  /** Stops listening and closes every connection, idle or not. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
