/** The public types of `RedisStore`: its options, and what it needs of an ioredis client. */
import type { Logger } from '../types.js';

/**
 * What the store needs of a Redis client: an `ioredis` `Redis` or `Cluster` fits. Declared here so
 * that this package's types do not require ioredis, an optional peer.
 */
export interface RedisClientLike {
  /** `'ready'` when commands can be sent. */
  readonly status: string;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, px: 'PX', milliseconds: number, nx: 'NX'): Promise<unknown>;
  set(key: string, value: string, px: 'PX', milliseconds: number): Promise<unknown>;
  evalsha(sha: string, numKeys: number, ...keysAndArgs: Array<string | number>): Promise<unknown>;
  eval(script: string, numKeys: number, ...keysAndArgs: Array<string | number>): Promise<unknown>;
  del(key: string): Promise<number>;
  /** For events between workers (optional: without it, events stay on their worker). */
  publish?(channel: string, message: string): Promise<number>;
  /** A new connection for subscribing (the store owns and quits it). */
  duplicate?(): RedisSubscriberLike;
  /** One page of SCAN, for `listSessions` (on a Cluster, run on every master). */
  scan?(cursor: string, match: 'MATCH', pattern: string, count: 'COUNT', n: number): Promise<[string, string[]]>;
  /** A Cluster's nodes (ioredis `Cluster`): `listSessions` scans every master. */
  nodes?(role: 'master'): RedisScannerLike[];
  /** Lets registration wait for a client that is still connecting. */
  once?(event: 'ready', listener: () => void): unknown;
}

/** One node of a Cluster, as far as SCAN goes. */
export interface RedisScannerLike {
  scan(cursor: string, match: 'MATCH', pattern: string, count: 'COUNT', n: number): Promise<[string, string[]]>;
}

/** The subscribing connection `RedisStore` makes with `client.duplicate()`. */
export interface RedisSubscriberLike {
  subscribe(channel: string): Promise<unknown>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  quit(): Promise<unknown>;
}

/** Options of `new RedisStore()`. */
export interface RedisStoreOptions {
  /** An ioredis client (or Cluster) you created and connected; the store never quits it. */
  client: RedisClientLike;
  /**
   * Prefix of every key (`<prefix>v2:…`, the key layout's version following it). Give each
   * gateway deployment (and each test) its own.
   * @default 'mcp-affinity:'
   */
  prefix?: string;
  /**
   * A session no request touched for this long expires, in milliseconds.
   * @default 1800000 (30 minutes)
   */
  sessionTtlMs?: number;
  /**
   * At most one expiry refresh per session per this many milliseconds.
   * @default a tenth of sessionTtlMs, at most 60000
   */
  touchIntervalMs?: number;
  /**
   * How often a worker renews its membership, in milliseconds.
   * @default 2000
   */
  heartbeatIntervalMs?: number;
  /**
   * A worker whose heartbeat is older than this is gone, in milliseconds.
   * @default 3 × heartbeatIntervalMs
   */
  heartbeatTtlMs?: number;
  /**
   * How long a remote worker's address is used before it is looked up again, in milliseconds.
   * @default heartbeatIntervalMs
   */
  workerCacheMs?: number;
  /**
   * Longest wait for Redis on any call, in milliseconds; then the call fails (a request that
   * needed it gets 503 with `Retry-After`).
   * @default 1000
   */
  operationTimeoutMs?: number;
  /**
   * During a Redis outage, route to a remote worker whose cached address has gone stale rather
   * than answer 503.
   * @default true
   */
  serveStaleOnError?: boolean;
  /** @default silent */
  logger?: Logger;
}

/** Counters for tests, benchmarks and metrics. */
export interface RedisStoreStats {
  /** Commands and scripts sent to Redis by lookups and claims (heartbeats and touches excluded). */
  roundTrips: number;
  workerCacheHits: number;
  workerCacheMisses: number;
}
