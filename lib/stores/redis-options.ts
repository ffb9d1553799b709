/** `RedisStore`'s options, checked and with their defaults. */
import { checkLogger, checkOptionsObject, invalidOption, positiveInteger } from '../options/validations.js';
import type { Logger } from '../types.js';
import type { RedisClientLike, RedisStoreOptions } from './redis-types.js';

const OWNER = 'RedisStore';

export interface ResolvedRedisStoreOptions {
  readonly client: RedisClientLike;
  readonly prefix: string;
  readonly sessionTtlMs: number;
  readonly touchIntervalMs: number;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTtlMs: number;
  readonly workerCacheMs: number;
  readonly operationTimeoutMs: number;
  readonly serveStaleOnError: boolean;
  readonly logger: Logger;
}

/** Throws an `McpAffinityError` naming the first wrong option. */
export function resolveRedisStoreOptions(options: RedisStoreOptions): ResolvedRedisStoreOptions {
  checkOptionsObject(OWNER, options, [
    'client',
    'prefix',
    'sessionTtlMs',
    'touchIntervalMs',
    'heartbeatIntervalMs',
    'heartbeatTtlMs',
    'workerCacheMs',
    'operationTimeoutMs',
    'serveStaleOnError',
    'logger',
  ]);
  const client = options.client as unknown as Record<string, unknown> | undefined;
  if (!client || typeof client.evalsha !== 'function' || typeof client.set !== 'function') {
    throw invalidOption(
      OWNER,
      'client',
      options.client,
      'expected an ioredis client you created, e.g. new Redis(process.env.REDIS_URL); the store never quits it.',
    );
  }
  const prefix = options.prefix ?? 'mcp-affinity:';
  if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
    throw invalidOption(
      OWNER,
      'prefix',
      prefix,
      'expected a string without { or } (the store adds its own hash tags), such as "mcp-affinity:".',
    );
  }
  const sessionTtlMs = positiveInteger(OWNER, 'sessionTtlMs', options.sessionTtlMs, 30 * 60_000);
  const touchIntervalMs = positiveInteger(
    OWNER,
    'touchIntervalMs',
    options.touchIntervalMs,
    Math.min(60_000, Math.ceil(sessionTtlMs / 10)),
  );
  const heartbeatIntervalMs = positiveInteger(OWNER, 'heartbeatIntervalMs', options.heartbeatIntervalMs, 2000);
  const heartbeatTtlMs = positiveInteger(OWNER, 'heartbeatTtlMs', options.heartbeatTtlMs, 3 * heartbeatIntervalMs);
  if (heartbeatTtlMs <= heartbeatIntervalMs) {
    throw invalidOption(
      OWNER,
      'heartbeatTtlMs',
      heartbeatTtlMs,
      `expected more than heartbeatIntervalMs (${heartbeatIntervalMs}), such as ${3 * heartbeatIntervalMs}, or a live worker would flap.`,
    );
  }
  if (options.serveStaleOnError !== undefined && typeof options.serveStaleOnError !== 'boolean') {
    throw invalidOption(OWNER, 'serveStaleOnError', options.serveStaleOnError, 'expected true or false.');
  }
  return {
    client: options.client,
    prefix,
    sessionTtlMs,
    touchIntervalMs,
    heartbeatIntervalMs,
    heartbeatTtlMs,
    workerCacheMs: positiveInteger(OWNER, 'workerCacheMs', options.workerCacheMs, heartbeatIntervalMs),
    operationTimeoutMs: positiveInteger(OWNER, 'operationTimeoutMs', options.operationTimeoutMs, 1000),
    serveStaleOnError: options.serveStaleOnError ?? true,
    logger: checkLogger(OWNER, options.logger),
  };
}
