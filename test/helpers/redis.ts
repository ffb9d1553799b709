import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import Redis, { type RedisOptions } from 'ioredis';
import { MemoryStore, RedisStore, type SessionStore } from '../../lib/index';
import { freePort } from './ports';
import { waitFor } from './wait';

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** A new client (RESP 2 or 3); the test closes it. */
  client(options?: RedisOptions): Redis;
  /** Stops the server (only one this helper started). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** Whether this helper owns the server (and may stop it). */
  readonly owned: boolean;
}

/** A key prefix no other test uses: tests never flush a shared database. */
export const uniquePrefix = (name: string): string => `test:${name}:${randomBytes(4).toString('hex')}:`;

/** Whether the server answers PING (raw RESP over a socket: nothing left behind). */
const answersPing = (port: number): Promise<boolean> =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setTimeout(500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => (socket.destroy(), resolve(data.toString().startsWith('+PONG'))));
    socket.once('error', () => (socket.destroy(), resolve(false)));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });

/** Resolves once the server answers PING: a child process announces nothing, so this polls. */
async function waitForPing(port: number): Promise<void> {
  await waitFor(() => answersPing(port), { intervalMs: 50, what: `redis-server on port ${port} answering PING` });
}

/**
 * `REDIS_URL` when set (never stopped here), otherwise a `redis-server` from PATH on a free port,
 * keeping nothing on disk.
 */
export async function startRedis(): Promise<TestRedis> {
  const external = process.env.REDIS_URL;
  const make =
    (url: string) =>
    (options: RedisOptions = {}) =>
      new Redis(url, { maxRetriesPerRequest: 1, ...options });
  if (external) {
    const { port } = new URL(external);
    return {
      url: external,
      port: Number(port || 6379),
      client: make(external),
      owned: false,
      stop: async () => undefined,
      restart: async () => undefined,
    };
  }
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitForPing(port);
  };
  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGKILL');
    await exited;
  };
  await start();
  const url = `redis://127.0.0.1:${port}`;
  return { url, port, client: make(url), owned: true, stop, restart: start };
}

/**
 * Stores for several in-process workers of one gateway: one shared `MemoryStore`, or a
 * `RedisStore` each (its own client, as separate hosts have) under one prefix. `close()` closes
 * the Redis stores and quits their clients.
 */
export function storeFactory(kind: 'MemoryStore' | 'RedisStore', redis: TestRedis | undefined, prefix: string) {
  const shared = new MemoryStore();
  const made: Array<{ store: RedisStore; client: Redis }> = [];
  return {
    store(): SessionStore {
      if (kind === 'MemoryStore') return shared;
      const client = redis!.client();
      const store = new RedisStore({ client, prefix });
      made.push({ store, client });
      return store;
    },
    async close(): Promise<void> {
      for (const { store, client } of made.splice(0)) {
        await store.close();
        await client.quit();
      }
    },
  };
}
