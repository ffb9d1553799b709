/**
 * `rpcDispatch`: MCP over JSON-RPC 2.0, scoped to what `serverScope` decided.
 *
 * Each session gets the SDK's `StreamableHTTPServerTransport` and a low-level SDK `Server` whose
 * handlers read the catalog on every request, through the session's scope. The SDK does the
 * protocol (initialize, version negotiation, ping, SSE, notifications, DELETE); this file decides
 * which session a request belongs to and what that session may see.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
// The low-level Server, not McpServer: handlers here resolve the catalog per request and per
// scope, where McpServer registers a fixed set of items up front.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  CompleteRequestSchema,
  type CompleteResult,
  ErrorCode,
  GetPromptRequestSchema,
  InitializeRequestSchema,
  isInitializeRequest,
  JSONRPCMessageSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  type LoggingLevel,
  LoggingLevelSchema,
  McpError,
  PingRequestSchema,
  ReadResourceRequestSchema,
  type ServerNotification,
  type ServerRequest,
  SetLevelRequestSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { JsonSchemaType, JsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';
import type { RequestHandler } from 'express';
import { ErrorCodes, type HttpRpcError, httpRpcError, JsonRpcCodes, sendRpcError, sessionNotFound } from './errors.js';
import { LIST_METHODS, listPrompts, listResources, listResourceTemplates, listTools } from './list-results.js';
import type { SessionEnd } from './metrics.js';
import { claimsInternal, requestState, SESSION_HEADER, singleHeader } from './request-state.js';
import { resolveWorkerOption, SERVED_BY_HEADER } from './session-affinity.js';
import { isSessionless, type SessionlessDeps, serveSessionless } from './sessionless.js';
import type {
  ArgumentCompleter,
  Catalog,
  HandlerContext,
  McpScope,
  ResourceTemplateDefinition,
  RpcDispatchOptions,
  Scoped,
  ToolDefinition,
} from './types.js';
import { checkOptionsObject, invalidOption, requireObjectWith } from './validations.js';
import type { OwnedSession } from './worker.js';

const OWNER = 'rpcDispatch';
export const PACKAGE_VERSION = '0.1.0';

/** MCP's code for a resource that does not exist. */
const RESOURCE_NOT_FOUND = -32002;

/** Versions whose clients may send JSON-RPC batches; later versions removed them. */
const BATCH_VERSIONS = new Set(['2024-11-05', '2025-03-26']);

/** The schema of each request method this dispatcher serves, to answer bad params with -32602. */
const REQUEST_SCHEMAS = new Map<string, { safeParse(value: unknown): { success: boolean; error?: { message: string } } }>([
  ['initialize', InitializeRequestSchema],
  ['ping', PingRequestSchema],
  ['tools/list', ListToolsRequestSchema],
  ['tools/call', CallToolRequestSchema],
  ['resources/list', ListResourcesRequestSchema],
  ['resources/read', ReadResourceRequestSchema],
  ['resources/templates/list', ListResourceTemplatesRequestSchema],
  ['prompts/list', ListPromptsRequestSchema],
  ['prompts/get', GetPromptRequestSchema],
  ['completion/complete', CompleteRequestSchema],
  ['logging/setLevel', SetLevelRequestSchema],
  ['resources/subscribe', SubscribeRequestSchema],
  ['resources/unsubscribe', UnsubscribeRequestSchema],
]);

/** Log levels by severity, lowest first, as the SDK lists them. */
const LOG_SEVERITY = new Map<LoggingLevel, number>(LoggingLevelSchema.options.map((level, index) => [level, index]));

/** At most this many completion values go back to the client (MCP's limit). */
const MAX_COMPLETIONS = 100;

/** What one session asked for through the protocol: its log level and its resource subscriptions. */
interface SessionState {
  logLevel: LoggingLevel | undefined;
  readonly subscriptions: Set<string>;
}

/** A session this worker owns. */
export interface DispatchSession extends OwnedSession {
  readonly transport: StreamableHTTPServerTransport;
  readonly server: Server;
  /** The resource URIs the session subscribed to. */
  readonly subscriptions: ReadonlySet<string>;
}

export const scopeKey = (scope: McpScope): string => (scope.kind === 'server' ? scope.serverId : '*');

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

function idOf(message: unknown): string | number | null {
  const id = (message as { id?: unknown } | null)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

/** Checks each message with the SDK's schemas; the first problem found is returned. */
export function checkMessages(messages: unknown, protocolVersion: string | undefined): HttpRpcError | undefined {
  const list = Array.isArray(messages) ? messages : [messages];
  if (Array.isArray(messages)) {
    const version = protocolVersion ?? '2025-03-26';
    if (!BATCH_VERSIONS.has(version)) {
      return httpRpcError(
        400,
        JsonRpcCodes.INVALID_REQUEST,
        ErrorCodes.INVALID_REQUEST,
        `Invalid Request: JSON-RPC batches are not allowed in protocol version ${version}`,
      );
    }
    if (messages.some(isInitializeRequest)) {
      return httpRpcError(
        400,
        JsonRpcCodes.INVALID_REQUEST,
        ErrorCodes.INVALID_REQUEST,
        'Invalid Request: initialize must be sent alone, not in a batch',
      );
    }
  }
  for (const message of list) {
    if (!JSONRPCMessageSchema.safeParse(message).success) {
      return httpRpcError(400, JsonRpcCodes.INVALID_REQUEST, ErrorCodes.INVALID_REQUEST, 'Invalid Request: not a JSON-RPC 2.0 message', {
        id: idOf(message),
      });
    }
    const method = (message as { method?: unknown }).method;
    const schema = typeof method === 'string' && 'id' in (message as object) ? REQUEST_SCHEMAS.get(method) : undefined;
    const parsed = schema?.safeParse(message);
    if (parsed && !parsed.success) {
      return httpRpcError(400, JsonRpcCodes.INVALID_PARAMS, ErrorCodes.INVALID_PARAMS, `Invalid params for ${String(method)}`, {
        id: idOf(message),
      });
    }
  }
  return undefined;
}

export function rpcDispatch(options: RpcDispatchOptions): RequestHandler {
  checkOptionsObject(OWNER, options, ['worker', 'catalog', 'serverInfo', 'instructions', 'jsonResponse', 'eventStore']);
  const worker = resolveWorkerOption(OWNER, options.worker);
  requireObjectWith(
    OWNER,
    'catalog',
    options.catalog,
    ['hasServer', 'listTools', 'listResources', 'listResourceTemplates', 'listPrompts'],
    'pass the object returned by createCatalog(), or your own Catalog.',
  );
  const catalog: Catalog = options.catalog;
  const info = options.serverInfo ?? { name: 'express-mcp-affinity', version: PACKAGE_VERSION };
  if (typeof info !== 'object' || info === null || typeof info.name !== 'string' || typeof info.version !== 'string') {
    throw invalidOption(
      OWNER,
      'serverInfo',
      info,
      "expected { name: string, version: string }, such as { name: 'my-gateway', version: '1.0.0' }.",
    );
  }
  const serverInfo = { ...info };
  if (options.instructions !== undefined && typeof options.instructions !== 'string') {
    throw invalidOption(OWNER, 'instructions', options.instructions, 'expected a string, or leave it unset.');
  }
  if (options.jsonResponse !== undefined && typeof options.jsonResponse !== 'boolean') {
    throw invalidOption(OWNER, 'jsonResponse', options.jsonResponse, 'expected true or false.');
  }
  const { instructions, jsonResponse = false, eventStore } = options;
  if (eventStore !== undefined) {
    requireObjectWith(
      OWNER,
      'eventStore',
      eventStore,
      ['storeEvent', 'replayEventsAfter'],
      'pass a MemoryEventStore, a RedisEventStore, or any SDK EventStore.',
    );
  }
  const { logger } = worker;
  const sessions = worker.sessions as Map<string, DispatchSession>;
  const schemaValidator = new AjvJsonSchemaValidator();
  const compiled = new WeakMap<object, JsonSchemaValidator<unknown>>();
  const templates = new WeakMap<object, UriTemplate>();

  // Sessions learn that their server's lists changed, on every worker: a change seen here is
  // published through the store (when it can), and every worker, this one included, tells its
  // own sessions of that server. Hints are idempotent, so changes are coalesced per server.
  const pendingChanges = new Map<string, NodeJS.Timeout>();
  const tellSessions = (serverId: string): void => {
    if (pendingChanges.has(serverId)) return;
    const timer = setTimeout(() => {
      pendingChanges.delete(serverId);
      for (const session of sessions.values()) {
        if (session.scope === serverId || session.scope === '*') session.server.sendToolListChanged().catch(() => undefined);
      }
    }, 10);
    pendingChanges.set(serverId, timer);
  };
  const { store } = worker;
  const fanOut = typeof store.publish === 'function' && typeof store.subscribe === 'function';
  const stopListening = catalog.onChange?.((serverId) => {
    if (!fanOut) return tellSessions(serverId);
    store.publish!({ type: 'catalog-changed', serverId, origin: worker.workerId }).catch((error: unknown) => {
      worker.metrics.storeError('publish');
      logger.warn(`[express-mcp-affinity] could not publish a catalog change: ${String(error)}`);
      tellSessions(serverId);
    });
  });
  if (stopListening) worker.onClose(stopListening);
  if (fanOut) {
    const stopHearing = store.subscribe!((event) => {
      if (event.type === 'catalog-changed') tellSessions(event.serverId);
    });
    worker.onClose(stopHearing);
  }
  worker.onClose(() => {
    for (const timer of pendingChanges.values()) clearTimeout(timer);
    pendingChanges.clear();
  });
  // Sessions subscribed to a resource (resources/subscribe) learn that it changed, on this worker.
  const stopWatching = catalog.onResourceUpdated?.((serverId, uri) => {
    for (const session of sessions.values()) {
      if ((session.scope === serverId || session.scope === '*') && session.subscriptions.has(uri)) {
        session.server.sendResourceUpdated({ uri }).catch(() => undefined);
      }
    }
  });
  if (stopWatching) worker.onClose(stopWatching);

  function context(serverId: string, scope: McpScope, extra: Extra, server: Server, state: SessionState): HandlerContext {
    const token = extra._meta?.progressToken;
    // Server-to-client requests travel on this request's stream; the client's answer comes back
    // as a new POST of the session, which any worker forwards to this one, the owner.
    const related = { relatedRequestId: extra.requestId, signal: extra.signal };
    return {
      serverId,
      scope,
      sessionId: extra.sessionId,
      workerId: worker.workerId,
      signal: extra.signal,
      sendProgress: async (progress, total, message) => {
        if (token === undefined) return;
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress, total, message } });
      },
      log: async (level, data, loggerName) => {
        const threshold = state.logLevel === undefined ? undefined : LOG_SEVERITY.get(state.logLevel);
        if (threshold !== undefined && (LOG_SEVERITY.get(level) ?? 0) < threshold) return;
        await extra.sendNotification({
          method: 'notifications/message',
          params: { level, data, ...(loggerName === undefined ? {} : { logger: loggerName }) },
        });
      },
      createMessage: async (params) => {
        if (!server.getClientCapabilities()?.sampling) {
          throw new McpError(ErrorCode.InvalidRequest, 'The client does not support sampling (no sampling capability)');
        }
        return server.createMessage(params, related);
      },
      elicitInput: async (params) => {
        if (!server.getClientCapabilities()?.elicitation) {
          throw new McpError(ErrorCode.InvalidRequest, 'The client does not support elicitation (no elicitation capability)');
        }
        return server.elicitInput(params, related);
      },
    };
  }

  /** The resource template of the scope whose pattern matches `uri`, with its variables. */
  function matchTemplate(
    scope: McpScope,
    uri: string,
  ): { template: Scoped<ResourceTemplateDefinition>; variables: Record<string, string | string[]> } | undefined {
    for (const template of catalog.listResourceTemplates(scope)) {
      let parsed = templates.get(template);
      if (!parsed) templates.set(template, (parsed = new UriTemplate(template.uriTemplate)));
      const variables = parsed.match(uri);
      if (variables) return { template, variables };
    }
    return undefined;
  }

  async function completion(
    completers: Readonly<Record<string, ArgumentCompleter>> | undefined,
    name: string,
    value: string,
    args: Record<string, string> | undefined,
  ): Promise<CompleteResult> {
    const complete = completers?.[name];
    const values = complete ? [...(await complete(value, { arguments: args ?? {} }))].map(String) : [];
    return {
      completion: { values: values.slice(0, MAX_COMPLETIONS), total: values.length, hasMore: values.length > MAX_COMPLETIONS },
    };
  }

  function validateArguments(tool: Scoped<ToolDefinition>, args: Record<string, unknown>): string | undefined {
    let validate = compiled.get(tool.inputSchema);
    if (!validate) compiled.set(tool.inputSchema, (validate = schemaValidator.getValidator(tool.inputSchema as JsonSchemaType)));
    const result = validate(args);
    return result.valid ? undefined : (result.errorMessage ?? 'arguments do not match the input schema');
  }

  function createServer(scope: McpScope, state: SessionState): Server {
    const server = new Server(serverInfo, {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true },
        prompts: {},
        logging: {},
        completions: {},
      },
      ...(instructions === undefined ? {} : { instructions }),
    });

    server.setRequestHandler(ListToolsRequestSchema, () => listTools(catalog, scope));

    server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
      const { name } = request.params;
      // Looked up inside the scope only: another server's tool does not exist here, and never runs.
      const tool = catalog.listTools(scope).find((t) => t.name === name);
      if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
      const args = (request.params.arguments ?? {}) as Record<string, unknown>;
      const invalid = validateArguments(tool, args);
      if (invalid) return { isError: true, content: [{ type: 'text', text: `Invalid arguments for tool ${name}: ${invalid}` }] };
      try {
        return await tool.handler(args, context(tool.serverId, scope, extra, server, state));
      } catch (error) {
        logger.error(`[express-mcp-affinity] tool ${tool.serverId}/${name} failed: ${String(error)}`);
        return {
          isError: true,
          content: [{ type: 'text', text: `Tool ${name} failed: ${error instanceof Error ? error.message : String(error)}` }],
        };
      }
    });

    server.setRequestHandler(ListResourcesRequestSchema, () => listResources(catalog, scope));

    server.setRequestHandler(ListResourceTemplatesRequestSchema, () => listResourceTemplates(catalog, scope));

    server.setRequestHandler(ReadResourceRequestSchema, async (request, extra) => {
      const { uri } = request.params;
      const resource = catalog.listResources(scope).find((r) => r.uri === uri);
      if (resource) return resource.read(context(resource.serverId, scope, extra, server, state));
      const matched = matchTemplate(scope, uri);
      if (matched) return matched.template.read(uri, matched.variables, context(matched.template.serverId, scope, extra, server, state));
      throw new McpError(RESOURCE_NOT_FOUND, `Resource not found: ${uri}`);
    });

    // Subscriptions are the session's own; only a resource of the scope can be subscribed to.
    server.setRequestHandler(SubscribeRequestSchema, (request) => {
      const { uri } = request.params;
      if (!catalog.listResources(scope).some((r) => r.uri === uri) && !matchTemplate(scope, uri)) {
        throw new McpError(RESOURCE_NOT_FOUND, `Resource not found: ${uri}`);
      }
      state.subscriptions.add(uri);
      return {};
    });

    server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
      state.subscriptions.delete(request.params.uri);
      return {};
    });

    // Replaces the SDK's handler (same answer) so that ctx.log() can filter by the session's level.
    server.setRequestHandler(SetLevelRequestSchema, (request) => {
      state.logLevel = request.params.level;
      return {};
    });

    server.setRequestHandler(CompleteRequestSchema, async (request) => {
      const { ref, argument, context: given } = request.params;
      if (ref.type === 'ref/prompt') {
        const prompt = catalog.listPrompts(scope).find((p) => p.name === ref.name);
        if (!prompt) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${ref.name}`);
        return completion(prompt.complete, argument.name, argument.value, given?.arguments);
      }
      const template = catalog.listResourceTemplates(scope).find((t) => t.uriTemplate === ref.uri);
      if (template) return completion(template.complete, argument.name, argument.value, given?.arguments);
      // A plain resource has nothing to complete.
      if (catalog.listResources(scope).some((r) => r.uri === ref.uri)) return completion(undefined, '', '', undefined);
      throw new McpError(ErrorCode.InvalidParams, `Unknown resource template: ${ref.uri}`);
    });

    server.setRequestHandler(ListPromptsRequestSchema, () => listPrompts(catalog, scope));

    server.setRequestHandler(GetPromptRequestSchema, async (request, extra) => {
      const { name } = request.params;
      const prompt = catalog.listPrompts(scope).find((p) => p.name === name);
      if (!prompt) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${name}`);
      const args = (request.params.arguments ?? {}) as Record<string, string>;
      const missing = (prompt.arguments ?? []).filter((a) => a.required && args[a.name] === undefined).map((a) => a.name);
      if (missing.length > 0)
        throw new McpError(ErrorCode.InvalidParams, `Missing required arguments for prompt ${name}: ${missing.join(', ')}`);
      return prompt.get(args, context(prompt.serverId, scope, extra, server, state));
    });

    return server;
  }

  /**
   * A new session, owned by this worker and bound to the scope it is initialized on. Its id is
   * claimed in the store before the SDK sees the request, so a store that cannot record it
   * refuses the initialize (503) instead of creating a session no peer could route to.
   */
  async function openSession(req: IncomingMessage, res: ServerResponse, scope: McpScope, messages: unknown): Promise<void> {
    const key = scopeKey(scope);
    const sessionId = worker.newSessionId();
    let claimed: boolean;
    try {
      claimed = await worker.store.claimSession({ sessionId, workerId: worker.workerId, scope: key });
    } catch (error) {
      logger.error(`[express-mcp-affinity] could not record a new session: ${String(error)}`);
      worker.metrics.storeError('claimSession');
      claimed = false;
    }
    if (!claimed) {
      return fail(
        res,
        httpRpcError(503, JsonRpcCodes.SERVER_ERROR, ErrorCodes.STORE_UNAVAILABLE, 'Session store unavailable; retry shortly', {
          headers: { 'retry-after': '1' },
        }),
      );
    }
    const state: SessionState = { logLevel: undefined, subscriptions: new Set() };
    const server = createServer(scope, state);
    const forget = (reason: SessionEnd): void => {
      if (!sessions.delete(sessionId)) return;
      worker.metrics.sessionEnded(reason);
      worker.store.releaseSession(sessionId, worker.workerId).catch((error: unknown) => {
        worker.metrics.storeError('releaseSession');
        logger.warn(`[express-mcp-affinity] releasing session failed: ${String(error)}`);
      });
    };
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => sessionId,
      enableJsonResponse: jsonResponse,
      ...(eventStore === undefined ? {} : { eventStore }),
      // Awaited by the SDK before the initialize response goes out: the session is routable by
      // the time the client learns its id.
      onsessioninitialized: () => {
        sessions.set(sessionId, session);
      },
      onsessionclosed: () => forget('deleted'),
    });
    const session: DispatchSession = {
      scope: key,
      lastActivity: Date.now(),
      active: 0,
      transport,
      server,
      subscriptions: state.subscriptions,
      close: async (reason: SessionEnd = 'closed') => {
        forget(reason);
        await server.close();
      },
    };
    transport.onclose = () => forget('closed');
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, messages);
    } finally {
      if (!sessions.has(sessionId)) {
        // The SDK refused the initialize (e.g. a wrong Accept header), or it failed: nothing to keep.
        await server.close().catch(() => undefined);
        await worker.store.releaseSession(sessionId, worker.workerId).catch(() => undefined);
      }
    }
  }

  function fail(res: ServerResponse, error: HttpRpcError): void {
    sendRpcError(res, error);
  }

  /**
   * The fast path, measured in docs/benchmarks.md: a single list request (or ping) of an owned,
   * initialized session is answered here with one JSON body, the same result the SDK's handler
   * builds, without the SDK transport's Node-to-web conversion (about half of a request's CPU).
   * Whatever the SDK would refuse (Accept, protocol version) still goes to the SDK.
   */
  function answerListDirectly(req: IncomingMessage, res: ServerResponse, sessionId: string, scope: McpScope, messages: unknown): boolean {
    if (typeof messages !== 'object' || messages === null || Array.isArray(messages)) return false;
    const { method, id } = messages as { method?: unknown; id?: unknown };
    const build = typeof method === 'string' ? LIST_METHODS[method] : undefined;
    if (!build || (typeof id !== 'string' && typeof id !== 'number')) return false;
    const accept = req.headers.accept ?? '';
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) return false;
    const version = singleHeader(req, 'mcp-protocol-version');
    if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return false;
    const body = JSON.stringify({ jsonrpc: '2.0', id, result: build(catalog, scope) });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'mcp-session-id': sessionId });
    res.end(body);
    return true;
  }

  /**
   * A client that goes away (or a forwarding worker whose client went away) cancels its requests:
   * the SDK's own `notifications/cancelled` handling aborts the handlers' signals.
   */
  function cancelOnDisconnect(res: ServerResponse, session: DispatchSession, messages: unknown): void {
    const ids = (Array.isArray(messages) ? messages : [messages])
      .filter((m) => typeof m?.method === 'string')
      .map(idOf)
      .filter((id) => id !== null);
    if (ids.length === 0) return;
    res.once('close', () => {
      if (res.writableFinished) return;
      for (const requestId of ids) {
        session.transport.onmessage?.({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId, reason: 'the client disconnected' },
        });
      }
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, scope: McpScope, messages: unknown): Promise<void> {
    const sessionId = singleHeader(req, SESSION_HEADER);
    if (sessionId !== undefined && sessionId !== '') {
      const session = sessions.get(sessionId);
      // A session exists only on the endpoint it was initialized on.
      if (!session || session.scope !== scopeKey(scope)) return fail(res, sessionNotFound());
      if (req.method === 'POST') {
        const problem = checkMessages(messages, singleHeader(req, 'mcp-protocol-version'));
        if (problem) return fail(res, problem);
      }
      if (session.active >= worker.maxConcurrentPerSession) {
        return fail(
          res,
          httpRpcError(
            429,
            JsonRpcCodes.SERVER_ERROR,
            ErrorCodes.TOO_MANY_REQUESTS,
            'Too many concurrent requests for this session; retry shortly',
            {
              headers: { 'retry-after': '1' },
              id: idOf(messages),
            },
          ),
        );
      }
      // Busy until the response closes (a stream counts for as long as it is open).
      session.active++;
      session.lastActivity = Date.now();
      res.once('close', () => {
        session.active--;
        session.lastActivity = Date.now();
      });
      worker.store.touchSession?.(sessionId, worker.workerId, session.scope);
      if (req.method === 'POST') {
        if (answerListDirectly(req, res, sessionId, scope, messages)) return;
        cancelOnDisconnect(res, session, messages);
      }
      return session.transport.handleRequest(req, res, messages);
    }
    if (req.method === 'POST') {
      const problem = checkMessages(messages, singleHeader(req, 'mcp-protocol-version'));
      if (problem) return fail(res, problem);
      if (!Array.isArray(messages) && isInitializeRequest(messages)) {
        if (worker.isDraining) {
          // This worker is shutting down: the client starts its session elsewhere.
          return fail(
            res,
            httpRpcError(503, JsonRpcCodes.SERVER_ERROR, ErrorCodes.DRAINING, 'This worker is shutting down; retry to reach another', {
              headers: { 'retry-after': '1', connection: 'close' },
              id: idOf(messages),
            }),
          );
        }
        return openSession(req, res, scope, messages);
      }
    }
    fail(res, httpRpcError(400, JsonRpcCodes.SERVER_ERROR, ErrorCodes.SESSION_REQUIRED, 'Bad Request: Mcp-Session-Id header is required'));
  }

  const sessionlessDeps: SessionlessDeps = {
    catalog,
    workerId: worker.workerId,
    serverInfo,
    instructions,
    validateArguments,
    readTemplate: (scope, uri, context) => {
      const found = matchTemplate(scope, uri);
      return found ? Promise.resolve(found.template.read(uri, found.variables, context(found.template.serverId))) : undefined;
    },
  };

  return function rpcDispatchMiddleware(req, res): void {
    const state = requestState(req);
    if (!state.scope) {
      logger.error(
        '[express-mcp-affinity] rpcDispatch ran without serverScope; mount serverScope before rpcDispatch (or use mcpAffinity(), which mounts both)',
      );
      return fail(res, httpRpcError(500, JsonRpcCodes.INTERNAL_ERROR, ErrorCodes.MISWIRED, 'Internal error: the gateway is misconfigured'));
    }
    if (claimsInternal(req) && !state.verifiedHop) {
      logger.error('[express-mcp-affinity] rpcDispatch saw an unverified internal hop; mount internalForwardGuard before rpcDispatch');
      return fail(res, httpRpcError(403, JsonRpcCodes.SERVER_ERROR, ErrorCodes.HOP_REFUSED, 'Forbidden: not a valid internal request'));
    }
    if (isSessionless(req)) {
      // 2026-07-28: no session; served here, through the scope, whatever Mcp-Session-Id says.
      if (worker.exposeWorkerHeaders) res.setHeader(SERVED_BY_HEADER, worker.workerId);
      serveSessionless(req, res, state.scope, state.messages, sessionlessDeps).catch((error: unknown) => {
        logger.error(`[express-mcp-affinity] sessionless request failed: ${String(error)}`);
        if (!res.headersSent) fail(res, httpRpcError(500, JsonRpcCodes.INTERNAL_ERROR, ErrorCodes.INTERNAL, 'Internal error'));
        else res.end();
      });
      return;
    }
    if (req.method !== 'POST' && req.method !== 'GET' && req.method !== 'DELETE') {
      return fail(
        res,
        httpRpcError(405, JsonRpcCodes.SERVER_ERROR, ErrorCodes.METHOD_NOT_ALLOWED, 'Method not allowed', {
          headers: { allow: 'GET, POST, DELETE' },
        }),
      );
    }
    if (worker.exposeWorkerHeaders) res.setHeader(SERVED_BY_HEADER, worker.workerId);
    // Sessions are served (and created) here only by their owner: name it for a balancer that learns routes.
    if (worker.routeHeader) res.setHeader(worker.routeHeader, worker.workerId);
    handle(req, res, state.scope, state.messages).catch((error: unknown) => {
      logger.error(`[express-mcp-affinity] dispatch failed: ${String(error)}`);
      if (!res.headersSent) fail(res, httpRpcError(500, JsonRpcCodes.INTERNAL_ERROR, ErrorCodes.INTERNAL, 'Internal error'));
      else res.end();
    });
  };
}
