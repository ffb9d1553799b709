/**
 * Ports without a race. In-process servers listen on port 0 and keep the bound port (`listenFree`).
 * A child process needs a number first; between probing a free port and the child binding it another
 * process may take it, so `withFreePort` retries the start on EADDRINUSE.
 */
import type http from 'node:http';
import net from 'node:net';

/** Listens on port 0 and resolves with the port the OS bound: nobody else can take it in between. */
export async function listenFree(server: net.Server | http.Server, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => (server.off('error', reject), resolve()));
  });
  return (server.address() as net.AddressInfo).port;
}

/** A port free a moment ago. Use only through `withFreePort` (or where a lost race just retries). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  const port = await listenFree(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether an error (or a child's output in its message) says the port was taken. */
export const isAddrInUse = (error: unknown): boolean =>
  /EADDRINUSE|Address already in use/i.test(String((error as Error)?.message ?? error));

/** Runs `start(port)` on a free port, again on another one when the port was taken meanwhile. */
export async function withFreePort<T>(start: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (error) {
      if (attempt >= attempts || !isAddrInUse(error)) throw error;
    }
  }
}
