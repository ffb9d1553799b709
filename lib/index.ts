export { createCatalog, MemoryCatalog } from './catalog.js';
export { type ErrorCode, ErrorCodes, JsonRpcCodes, McpAffinityError } from './errors.js';
export { MCP_PATHS, type McpAffinityRouter, mcpAffinity } from './gateway.js';
export { SIGNATURE_HEADER } from './hop-signature.js';
export { internalForwardGuard } from './internal-forward-guard.js';
export { newConnectionFetch } from './new-connection-fetch.js';
export { getScope, INTERNAL_HEADER, SESSION_HEADER } from './request-state.js';
export { rpcDispatch } from './rpc-dispatch.js';
export { DEFAULT_SERVER_ID_PATTERN, serverScope } from './server-scope.js';
export { FORWARDED_HEADER, RECEIVED_BY_HEADER, SERVED_BY_HEADER, sessionAffinity } from './session-affinity.js';
export { type ClusterPrimary, ClusterStore, type ClusterStoreOptions, setupClusterPrimary } from './stores/cluster-store.js';
export {
  type EventStoreOptions,
  MemoryEventStore,
  RedisEventStore,
  type RedisEventStoreOptions,
  type RedisStreamClientLike,
} from './stores/event-stores.js';
export { MemoryStore } from './stores/memory-store.js';
export {
  type RedisClientLike,
  RedisStore,
  type RedisStoreOptions,
  type RedisStoreStats,
  type RedisSubscriberLike,
} from './stores/redis-store.js';
export type * from './types.js';
export { AffinityWorker, createAffinityWorker } from './worker.js';
