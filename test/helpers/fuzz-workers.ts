/**
 * Reaching one chosen worker of the example's cluster: its workers accept from one shared socket,
 * so a new connection lands on whichever takes it. `connectTo` opens connections, asks each which
 * worker holds it (the example's debug hook, GET /debug/worker, which takes no admission slot),
 * and keeps the first on the worker wanted; `requestOn` then sends one request over it.
 */
import http from 'node:http';
import net from 'node:net';

/** Reads one answer with a Content-Length off `socket`, leaving the socket open and clean. */
function readOne(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split))?.[1];
      if (split < 0 || length === undefined || text.length < split + 4 + Number(length)) return;
      socket.off('data', onData).off('close', onClose);
      resolve(text.slice(split + 4, split + 4 + Number(length)));
    };
    const onClose = (): void => reject(new Error(`the connection closed during /debug/worker: ${JSON.stringify(text)}`));
    socket.on('data', onData).once('close', onClose);
  });
}

/** A new connection held by worker `workerId` (at most `tries` connections are opened). */
export async function connectTo(url: string, workerId: string, tries = 500): Promise<net.Socket> {
  const { hostname, port } = new URL(url);
  for (let i = 0; i < tries; i++) {
    const socket = net.connect(Number(port), hostname);
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write(`GET /debug/worker HTTP/1.1\r\nhost: ${hostname}:${port}\r\nconnection: keep-alive\r\n\r\n`);
    const { workerId: on } = JSON.parse(await readOne(socket));
    if (on === workerId) return socket;
    socket.destroy();
  }
  throw new Error(`no connection reached worker ${workerId} in ${tries} tries`);
}

export interface Held {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** The body, once the answer ended (a stream's, once it is closed). */
  readonly body: Promise<string>;
  /** Closes the connection; resolves once it is closed. */
  close(): Promise<void>;
}

/** Sends one request over `socket`; resolves with the answer's head (its body follows). */
export function requestOn(socket: net.Socket, path: string, method: string, headers: Record<string, string>, body?: string): Promise<Held> {
  return new Promise((resolve, reject) => {
    const req = http.request({ createConnection: () => socket, path, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      const ended = new Promise<string>((done) => {
        res.on('end', () => done(text));
        res.on('close', () => done(text));
      });
      const closed = new Promise<void>((done) => (socket.destroyed ? done() : socket.once('close', () => done())));
      const close = (): Promise<void> => (socket.destroy(), closed);
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: ended, close });
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer within 10 s: ${method} ${path}`)));
    req.on('error', reject);
    req.end(body);
  });
}
