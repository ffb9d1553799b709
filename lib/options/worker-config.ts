/**
 * `createAffinityWorker()` options, checked and resolved once into the configuration the worker's
 * parts read. A wrong option throws here, naming the option, the value and the fix.
 */
import { getHeapStatistics } from 'node:v8';
import { type AuthConfig, resolveAuth } from '../auth/auth-config.js';
import type { AffinityWorkerOptions, Logger, SessionStore } from '../types.js';
import { WORKER_OPTION_NAMES } from './option-names.js';
import { checkLogger, checkOptionsObject, invalidOption, positiveInteger, requireObjectWith } from './validations.js';

export const WORKER_OWNER = 'createAffinityWorker';
const WORKER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const MIN_SECRET_LENGTH = 32;

export type InternalListen =
  | { kind: 'tcp'; host: string; port: number; advertisedHost: string; advertisedPort: number | undefined }
  | { kind: 'socket'; socketPath: string };

export interface WorkerConfig {
  readonly workerId: string | undefined;
  /** Secrets, newest first: the first signs, any verifies. */
  readonly secrets: readonly string[];
  /** Bearer-token authentication, when on. */
  readonly auth: AuthConfig | undefined;
  readonly store: SessionStore | undefined;
  readonly internal: InternalListen;
  readonly maxClockSkewMs: number;
  readonly forwardTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly sessionIdleTimeoutMs: number;
  /** `Infinity` when unset. */
  readonly sessionMaxAgeMs: number;
  readonly maxConcurrentRequests: number;
  readonly maxConcurrentPerSession: number;
  readonly maxOpenStreams: number;
  /** `undefined` means "when the store can"; resolved by the worker once the store is known. */
  readonly sessionContinuity: boolean | undefined;
  readonly hibernateAfterMs: number;
  readonly maxSessionsPerWorker: number;
  readonly exposeWorkerHeaders: boolean;
  readonly logger: Logger;
  /** Whether a `logger.debug` was given: structured per-request lines are built only then. */
  readonly debugLogging: boolean;
  /** Lower-cased response header naming the owner; `undefined` when off. */
  readonly routeHeader: string | undefined;
}

/** Sized to memory: an awake session costs about 26 KiB; a tenth of the heap for them, rounded. */
function defaultMaxSessions(): number {
  return Math.max(100, Math.floor(getHeapStatistics().heap_size_limit / (256 * 1024)));
}

export function resolveSecrets(value: unknown): string[] {
  const list = typeof value === 'string' ? [value] : Array.isArray(value) ? value : undefined;
  if (!list || list.length === 0 || !list.every((s) => typeof s === 'string' && s.length >= MIN_SECRET_LENGTH)) {
    // Never echo a secret into an error message (and so into logs): describe it.
    const received =
      typeof value === 'string' ? `a string of ${value.length} characters` : Array.isArray(value) ? `an array of ${value.length}` : value;
    throw invalidOption(
      WORKER_OWNER,
      'secret',
      received,
      `expected a string of at least ${MIN_SECRET_LENGTH} characters shared by every worker (or an array of them, newest first, while rotating); generate one with \`node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"\`.`,
    );
  }
  return [...list];
}

function resolveTcp(v: Record<string, unknown>): InternalListen {
  const host = v.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0)
    throw invalidOption(WORKER_OWNER, 'internal.host', host, "expected an address to listen on, such as '127.0.0.1' or '10.0.0.5'.");
  const port = v.port ?? 0;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw invalidOption(
      WORKER_OWNER,
      'internal.port',
      port,
      'expected an integer from 0 to 65535 (0 picks a free port, even in a cluster worker).',
    );
  }
  const advertisedHost = v.advertisedHost ?? (host === '0.0.0.0' || host === '::' ? undefined : host);
  if (typeof advertisedHost !== 'string' || advertisedHost === '0.0.0.0' || advertisedHost === '::' || advertisedHost.length === 0) {
    throw invalidOption(
      WORKER_OWNER,
      'internal.advertisedHost',
      advertisedHost,
      'expected the address peers use to reach this worker (such as the pod IP), not a wildcard; set it whenever host is 0.0.0.0 or ::.',
    );
  }
  const advertisedPort = v.advertisedPort;
  if (
    advertisedPort !== undefined &&
    (typeof advertisedPort !== 'number' || !Number.isInteger(advertisedPort) || advertisedPort < 1 || advertisedPort > 65535)
  ) {
    throw invalidOption(
      WORKER_OWNER,
      'internal.advertisedPort',
      advertisedPort,
      'expected the port peers connect to (1 to 65535) when it differs from the listening port, as behind NAT; leave it unset otherwise.',
    );
  }
  return { kind: 'tcp', host, port, advertisedHost, advertisedPort };
}

function resolveInternal(value: unknown): InternalListen {
  if (value === undefined) return { kind: 'tcp', host: '127.0.0.1', port: 0, advertisedHost: '127.0.0.1', advertisedPort: undefined };
  if (typeof value !== 'object' || value === null) {
    throw invalidOption(
      WORKER_OWNER,
      'internal',
      value,
      'expected { host?, port?, advertisedHost? } or { socketPath }; leave it unset for 127.0.0.1 on a free port.',
    );
  }
  const v = value as Record<string, unknown>;
  if (v.socketPath === undefined) return resolveTcp(v);
  if (typeof v.socketPath === 'string' && v.socketPath.length > 0) return { kind: 'socket', socketPath: v.socketPath };
  throw invalidOption(WORKER_OWNER, 'internal.socketPath', v.socketPath, 'expected a file path such as /run/gateway/worker-1.sock.');
}

function resolveRouteHeader(value: unknown): string | undefined {
  if (value !== undefined && (typeof value !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(value))) {
    throw invalidOption(WORKER_OWNER, 'routeHeader', value, "expected a header name such as 'mcp-affinity-route', or leave it unset.");
  }
  return value?.toLowerCase();
}

export function resolveWorkerConfig(options: AffinityWorkerOptions): WorkerConfig {
  checkOptionsObject(WORKER_OWNER, options, WORKER_OPTION_NAMES);
  const secrets = resolveSecrets(options.secret);
  if (options.workerId !== undefined && (typeof options.workerId !== 'string' || !WORKER_ID_PATTERN.test(options.workerId))) {
    throw invalidOption(
      WORKER_OWNER,
      'workerId',
      options.workerId,
      'expected 1 to 64 characters of [A-Za-z0-9_-]; leave it unset to get a random id created in this process.',
    );
  }
  if (options.store !== undefined) {
    requireObjectWith(
      WORKER_OWNER,
      'store',
      options.store,
      ['registerWorker', 'deregisterWorker', 'getWorker', 'claimSession', 'getSession', 'releaseSession'],
      'pass a MemoryStore, ClusterStore or RedisStore, or leave it unset.',
    );
  }
  if (options.sessionContinuity !== undefined && typeof options.sessionContinuity !== 'boolean') {
    throw invalidOption(WORKER_OWNER, 'sessionContinuity', options.sessionContinuity, 'expected true or false.');
  }
  if (options.exposeWorkerHeaders !== undefined && typeof options.exposeWorkerHeaders !== 'boolean') {
    throw invalidOption(WORKER_OWNER, 'exposeWorkerHeaders', options.exposeWorkerHeaders, 'expected true or false.');
  }
  return {
    workerId: options.workerId,
    secrets,
    auth: resolveAuth(WORKER_OWNER, options.auth),
    store: options.store,
    internal: resolveInternal(options.internal),
    maxClockSkewMs: positiveInteger(WORKER_OWNER, 'maxClockSkewMs', options.maxClockSkewMs, 30_000),
    forwardTimeoutMs: positiveInteger(WORKER_OWNER, 'forwardTimeoutMs', options.forwardTimeoutMs, 30_000),
    connectTimeoutMs: positiveInteger(WORKER_OWNER, 'connectTimeoutMs', options.connectTimeoutMs, 1000),
    sessionIdleTimeoutMs: positiveInteger(WORKER_OWNER, 'sessionIdleTimeoutMs', options.sessionIdleTimeoutMs, 30 * 60_000),
    sessionMaxAgeMs:
      options.sessionMaxAgeMs === undefined
        ? Number.POSITIVE_INFINITY
        : positiveInteger(WORKER_OWNER, 'sessionMaxAgeMs', options.sessionMaxAgeMs, 0),
    maxConcurrentRequests: positiveInteger(WORKER_OWNER, 'maxConcurrentRequests', options.maxConcurrentRequests, 1024),
    maxConcurrentPerSession: positiveInteger(WORKER_OWNER, 'maxConcurrentPerSession', options.maxConcurrentPerSession, 32),
    maxOpenStreams: positiveInteger(WORKER_OWNER, 'maxOpenStreams', options.maxOpenStreams, 10_000),
    sessionContinuity: options.sessionContinuity,
    hibernateAfterMs: positiveInteger(WORKER_OWNER, 'hibernateAfterMs', options.hibernateAfterMs, 5 * 60_000),
    maxSessionsPerWorker: positiveInteger(WORKER_OWNER, 'maxSessionsPerWorker', options.maxSessionsPerWorker, defaultMaxSessions()),
    exposeWorkerHeaders: options.exposeWorkerHeaders ?? false,
    logger: checkLogger(WORKER_OWNER, options.logger),
    debugLogging: options.logger !== undefined && typeof options.logger.debug === 'function',
    routeHeader: resolveRouteHeader(options.routeHeader),
  };
}
