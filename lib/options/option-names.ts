/**
 * Every factory's option names, declared once: the unknown-option check uses them, and the
 * compiler checks each list against its interface in `types.ts` (a name missing here, or here
 * but not there, is a type error).
 */
import type {
  AffinityWorkerOptions,
  InternalForwardGuardOptions,
  McpAffinityOptions,
  RpcDispatchOptions,
  ServerScopeOptions,
  SessionAffinityOptions,
  UpstreamOptions,
} from '../types.js';

/** Exactly the keys of `T`, as a tuple the compiler checks both ways. */
type Exact<T, L extends readonly (keyof T)[]> = Exclude<keyof T, L[number]> extends never ? L : never;
const names =
  <T>() =>
  <const L extends readonly (keyof T)[]>(list: Exact<T, L>): readonly string[] =>
    list as readonly string[];

export const WORKER_OPTION_NAMES = names<AffinityWorkerOptions>()([
  'secret',
  'auth',
  'store',
  'workerId',
  'internal',
  'maxClockSkewMs',
  'forwardTimeoutMs',
  'connectTimeoutMs',
  'sessionIdleTimeoutMs',
  'sessionMaxAgeMs',
  'sessionContinuity',
  'hibernateAfterMs',
  'maxSessionsPerWorker',
  'maxConcurrentRequests',
  'maxConcurrentPerSession',
  'maxOpenStreams',
  'exposeWorkerHeaders',
  'logger',
  'metrics',
  'routeHeader',
  'allowedHosts',
  'allowedOrigins',
]);

export const SESSION_AFFINITY_OPTION_NAMES = names<SessionAffinityOptions>()(['worker', 'bodyLimit', 'bodyTimeoutMs']);
export const GUARD_OPTION_NAMES = names<InternalForwardGuardOptions>()(['worker', 'bodyLimit', 'bodyTimeoutMs']);
export const SERVER_SCOPE_OPTION_NAMES = names<ServerScopeOptions>()(['catalog', 'serverIdPattern', 'bodyLimit', 'bodyTimeoutMs']);
export const RPC_DISPATCH_OPTION_NAMES = names<RpcDispatchOptions>()([
  'worker',
  'catalog',
  'serverInfo',
  'instructions',
  'jsonResponse',
  'eventStore',
]);

export const MCP_AFFINITY_OPTION_NAMES = names<McpAffinityOptions>()([
  ...(WORKER_OPTION_NAMES as readonly (keyof AffinityWorkerOptions)[]),
  'catalog',
  'bodyLimit',
  'bodyTimeoutMs',
  'serverIdPattern',
  'serverInfo',
  'instructions',
  'jsonResponse',
  'eventStore',
] as const);

export const UPSTREAM_OPTION_NAMES = names<UpstreamOptions>()([
  'url',
  'command',
  'args',
  'env',
  'cwd',
  'headers',
  'bearerToken',
  'prefix',
  'include',
  'exclude',
  'timeoutMs',
  'maxAnswerBytes',
  'breakerFailures',
  'breakerCooldownMs',
  'name',
  'sessions',
  'forwardAuthorization',
  'metrics',
  'onSpan',
]);
