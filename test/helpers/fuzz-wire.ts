/**
 * The fuzz test's wire: requests sent byte for byte (an HTTP client would normalize a path or
 * refuse a GET body), raw sockets that stop sending, and a POST stream read message by message.
 */
import http from 'node:http';
import net from 'node:net';
import { rpcMessages } from './gateway';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request over a new connection; a stream is cut after its headers; a hang fails the case. */
export function send(
  base: string,
  path: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<Answer> {
  const { hostname, port } = new URL(base);
  const url = `${base}${path}`;
  return new Promise((resolve, reject) => {
    // The path goes on the wire byte for byte (a URL object would normalize `/./` and `%2e`).
    const req = http.request({ host: hostname, port, path, method, headers, agent: false, timeout: 10_000 }, (res) => {
      if (method === 'GET' && String(res.headers['content-type']).startsWith('text/event-stream')) {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
        res.destroy();
        return;
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within 10 s: ${method} ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The JSON-RPC requests in a generated body, or none when it is not JSON. */
export function parseRequests(payload: string): Array<{ id?: unknown; method?: unknown; params?: { name?: unknown } }> {
  try {
    const parsed = JSON.parse(payload);
    return (Array.isArray(parsed) ? parsed : [parsed]).filter((m) => typeof m === 'object' && m !== null);
  } catch {
    return [];
  }
}

/** An answer read off a raw socket: nothing at all when the server closed without one. */
export interface RawAnswer {
  /** Everything received. */
  text: string;
  status?: number;
  headers: Record<string, string>;
  body: string;
}

function parseRaw(text: string): RawAnswer {
  const split = text.indexOf('\r\n\r\n');
  if (split < 0) return { text, headers: {}, body: '' };
  const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = text.slice(split + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    let joined = '';
    for (let at = 0; ; ) {
      const end = body.indexOf('\r\n', at);
      const size = Number.parseInt(body.slice(at, end), 16);
      if (!(size > 0)) break;
      joined += body.slice(end + 2, end + 2 + size);
      at = end + 2 + size + 2;
    }
    body = joined;
  }
  return { text, status: Number(statusLine.split(' ')[1]), headers, body };
}

export interface OpenSocket {
  /** Resolves once the server closed the connection (or reset it), with what it answered. */
  readonly answer: Promise<RawAnswer>;
}

/**
 * Connects, writes `bytes` (complete headers, maybe part of a body) and then sends nothing more,
 * without closing its side: a client that stopped sending. Resolves once written. A connection the
 * server leaves open past `hangMs` is destroyed and fails the case.
 */
export function writeAndStop(base: string, bytes: string, hangMs: number): Promise<OpenSocket> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let text = '';
    const answer = new Promise<RawAnswer>((done, failed) => {
      const timer = setTimeout(() => {
        socket.destroy();
        failed(new Error(`the server held a stalled request open past ${hangMs} ms: ${JSON.stringify(bytes.slice(0, 120))}`));
      }, hangMs);
      socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
      socket.on('close', () => (clearTimeout(timer), done(parseRaw(text))));
    });
    // A reset after the answer is a close like any other; what was received counts.
    socket.on('error', () => {});
    socket.once('connect', () => socket.write(bytes, 'latin1', () => resolve({ answer })));
    socket.once('error', reject);
  });
}

/** A POST whose answer is a stream, read message by message as it arrives. */
export interface PostStream {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Resolves with the first message (received so far or later) that `match` accepts. */
  next(match: (message: any) => boolean): Promise<any>;
  /** Resolves with every message once the stream ends. */
  readonly ended: Promise<any[]>;
}

/** Over a new connection, or over `socket` (one held by a chosen worker: test/helpers/fuzz-workers.ts). */
export function postStream(url: string, headers: Record<string, string>, body: unknown, socket?: net.Socket): Promise<PostStream> {
  return new Promise((resolve, reject) => {
    const via = socket ? { createConnection: () => socket } : { agent: false as const };
    const req = http.request(url, { method: 'POST', headers, ...via }, (res) => {
      const messages: any[] = [];
      const waiters: Array<() => void> = [];
      let buffer = '';
      let ended = false;
      res.setEncoding('utf8');
      const whole = new Promise<any[]>((done, failed) => {
        res.on('data', (chunk: string) => {
          buffer += chunk;
          const events = buffer.split('\n\n');
          buffer = events.pop() ?? '';
          for (const event of events) messages.push(...rpcMessages('text/event-stream', `${event}\n\n`));
          for (const wake of waiters.splice(0)) wake();
        });
        res.on('end', () => {
          if (buffer) messages.push(...rpcMessages(String(res.headers['content-type']), buffer));
          ended = true;
          for (const wake of waiters.splice(0)) wake();
          done(messages);
        });
        res.on('error', failed);
      });
      const next = (match: (message: any) => boolean) =>
        new Promise<any>((done, failed) => {
          const check = (): void => {
            const found = messages.find(match);
            if (found !== undefined) return done(found);
            if (ended) return failed(new Error(`the stream ended without the message awaited: ${JSON.stringify(messages)}`));
            waiters.push(check);
          };
          check();
        });
      resolve({ status: res.statusCode ?? 0, headers: res.headers, next, ended: whole });
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
