export { type JwtVerifierOptions, jwtVerifier } from './auth/jwt-verifier.js';
export { principalOf } from './auth/principal.js';
export { createCatalog, MemoryCatalog } from './catalog.js';
export { type ErrorCode, ErrorCodes, JsonRpcCodes, McpAffinityError } from './errors.js';
export { MCP_PATHS, type McpAffinityRouter, mcpAffinity } from './gateway.js';
export { FORWARDED_HEADER, RECEIVED_BY_HEADER, SERVED_BY_HEADER } from './hop/hop-headers.js';
export { SIGNATURE_HEADER } from './hop/hop-signature.js';
export { DEFAULT_CLOSE_GRACE_MS, type GracefulClose, trackConnections } from './http/graceful-close.js';
export { newConnectionFetch } from './http/new-connection-fetch.js';
export { getScope, INTERNAL_HEADER, isInternalHop, SESSION_HEADER } from './http/request-state.js';
export { toolCallOf } from './http/tool-call.js';
export { internalForwardGuard } from './middleware/internal-forward-guard.js';
export { rpcDispatch } from './middleware/rpc-dispatch.js';
export { serverScope } from './middleware/server-scope.js';
export { sessionAffinity } from './middleware/session-affinity.js';
export { DEFAULT_SERVER_ID_PATTERN } from './server-id.js';
export { type ClusterPrimary, type ClusterPrimaryOptions, setupClusterPrimary } from './stores/cluster-primary.js';
export { ClusterStore, type ClusterStoreOptions } from './stores/cluster-store.js';
export {
  type EventStoreOptions,
  MemoryEventStore,
  RedisEventStore,
  type RedisEventStoreOptions,
  type RedisStreamClientLike,
} from './stores/event-stores.js';
export { MemoryStore } from './stores/memory-store.js';
export { RedisStore } from './stores/redis-store.js';
export type { RedisClientLike, RedisScannerLike, RedisStoreOptions, RedisStoreStats, RedisSubscriberLike } from './stores/redis-types.js';
export {
  runStoreContract,
  type StoreContractCase,
  type StoreContractResult,
  storeContractCases,
} from './stores/store-contract.js';
export type {
  AffinityWorkerOptions,
  ArgumentCompleter,
  AuthOptions,
  AuthorizePolicy,
  AuthorizeRequest,
  BodyLimitOptions,
  CacheHints,
  Catalog,
  GatewayEvent,
  GatewayWorker,
  HandlerContext,
  InternalForwardGuardOptions,
  ListKind,
  Logger,
  McpAffinityOptions,
  McpScope,
  MetricsOptions,
  MetricsRegistryLike,
  PromptDefinition,
  ResourceDefinition,
  ResourceTemplateDefinition,
  RpcDispatchOptions,
  Scoped,
  ServerScopeOptions,
  SessionAffinityOptions,
  SessionRecord,
  SessionSnapshot,
  SessionStore,
  ToolDefinition,
  ToolInputSchema,
  UpstreamItems,
  UpstreamOptions,
  UpstreamSource,
  UpstreamSpan,
  VirtualServerDefinition,
  WorkerRecord,
} from './types.js';
export { Upstream, upstream } from './upstream/upstream.js';
export { UpstreamError } from './upstream/upstream-error.js';
export { AffinityWorker, createAffinityWorker } from './worker.js';
