/**
 * Closing an HTTP server without cutting a request off, and within a bound. `server.close()`
 * leaves the connections with a request under way to finish, but nothing bounds them, each stays
 * kept alive after its answer, and a process that exits meanwhile resets them;
 * `closeAllConnections()` resets requests that are still arriving, which their clients cannot tell
 * from requests that ran. Here every request under way is answered (with `Connection: close`),
 * its connection then closed, and what still holds on after the grace period destroyed.
 */
import http, { type Server } from 'node:http';
import type { Socket } from 'node:net';

/** How long a connection that sends nothing, or a request that does not end, may hold up a close. */
export const DEFAULT_CLOSE_GRACE_MS = 5_000;

export interface GracefulClose {
  /**
   * Stops accepting, closes kept-alive connections between requests, lets every other connection
   * finish its request, then closes it; what is still open after `graceMs` is destroyed.
   * Resolves once every connection is closed. Safe to call more than once.
   */
  close(graceMs?: number): Promise<void>;
}

/** Tracks `server`'s connections from now on, for a close that cuts no request off. */
export function trackConnections(server: Server): GracefulClose {
  const open = new Set<Socket>();
  let closing: Promise<void> | undefined;
  let stopped = false;
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  // Prepended: before the application's handler, which may answer at once.
  server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (stopped) res.setHeader('connection', 'close');
    // Begun before the close: Node would keep its connection for a next request; there is none.
    else res.once('finish', () => stopped && req.socket.end());
  });
  return {
    close(graceMs = DEFAULT_CLOSE_GRACE_MS) {
      closing ??= new Promise<void>((resolve) => {
        // In the check phase, right after libuv accepted what was pending: the kernel resets the
        // connections still queued when the listening socket closes, and that is then none.
        setImmediate(() => {
          stopped = true;
          // Already closed, nothing open: nothing will emit `close` again.
          if (!server.listening && open.size === 0) return resolve();
          const deadline = setTimeout(() => {
            for (const socket of open) socket.destroy();
          }, graceMs);
          server.once('close', () => (clearTimeout(deadline), resolve()));
          // Also closes the kept-alive connections between requests (clients retry those on a
          // new one). A connection whose first request is still arriving is not one of them.
          http.Server.prototype.close.call(server);
        });
      });
      return closing;
    },
  };
}
