/**
 * Protocol 2026-07-28, sessionless: no initialize, no session id; version and client information
 * travel in each request's `params._meta`, and `Mcp-Method`/`Mcp-Name` headers repeat what the body
 * says so that intermediaries can route without reading it. Such a request is served by the worker
 * that receives it (never forwarded) and, like every request, through the scope of its path.
 *
 * The v1 SDK this package builds on speaks up to 2025-11-25, so this module answers the 2026
 * requests itself, from the same catalog functions as the SDK handlers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCodes, httpRpcError, JsonRpcCodes, sendRpcError } from './errors.js';
import { listPrompts, listResources, listResourceTemplates, listTools } from './list-results.js';
import { singleHeader } from './request-state.js';
import type { Catalog, HandlerContext, McpScope, Scoped, ToolDefinition } from './types.js';

export const SESSIONLESS_VERSION = '2026-07-28';

/** `Mcp-Method`/`Mcp-Name` disagree with the body (the code the v2 SDK uses). */
const HEADER_MISMATCH = -32020;
const RESOURCE_NOT_FOUND = -32002;

export const isSessionless = (req: IncomingMessage): boolean => singleHeader(req, 'mcp-protocol-version') === SESSIONLESS_VERSION;

export interface SessionlessDeps {
  readonly catalog: Catalog;
  readonly workerId: string;
  readonly serverInfo: { name: string; version: string; title?: string };
  readonly instructions: string | undefined;
  /** An error message when the arguments do not match the tool's input schema. */
  validateArguments(tool: Scoped<ToolDefinition>, args: Record<string, unknown>): string | undefined;
  readTemplate(scope: McpScope, uri: string, context: (serverId: string) => HandlerContext): Promise<unknown> | undefined;
}

class RpcFailure extends Error {
  constructor(
    readonly rpcCode: number,
    message: string,
  ) {
    super(message);
  }
}

type Message = {
  jsonrpc?: unknown;
  id?: unknown;
  method?: unknown;
  params?: Record<string, unknown> & { _meta?: Record<string, unknown> };
};

/** Answers one 2026-07-28 request. */
export async function serveSessionless(
  req: IncomingMessage,
  res: ServerResponse,
  scope: McpScope,
  messages: unknown,
  deps: SessionlessDeps,
): Promise<void> {
  if (req.method !== 'POST') {
    return sendRpcError(
      res,
      httpRpcError(
        405,
        JsonRpcCodes.SERVER_ERROR,
        ErrorCodes.METHOD_NOT_ALLOWED,
        `Method not allowed: protocol ${SESSIONLESS_VERSION} has no GET stream and no DELETE`,
        {
          headers: { allow: 'POST' },
        },
      ),
    );
  }
  if (typeof messages !== 'object' || messages === null || Array.isArray(messages)) {
    return sendRpcError(
      res,
      httpRpcError(400, JsonRpcCodes.INVALID_REQUEST, ErrorCodes.INVALID_REQUEST, 'Invalid Request: one JSON-RPC message per request'),
    );
  }
  const message = messages as Message;
  const id = typeof message.id === 'string' || typeof message.id === 'number' ? message.id : null;
  if (message.jsonrpc !== '2.0' || typeof message.method !== 'string') {
    return sendRpcError(
      res,
      httpRpcError(400, JsonRpcCodes.INVALID_REQUEST, ErrorCodes.INVALID_REQUEST, 'Invalid Request: not a JSON-RPC 2.0 message', { id }),
    );
  }
  const method = message.method;
  const params = (typeof message.params === 'object' && message.params !== null ? message.params : {}) as NonNullable<Message['params']>;
  if (singleHeader(req, 'mcp-method') !== method) {
    return sendRpcError(
      res,
      httpRpcError(400, HEADER_MISMATCH, ErrorCodes.INVALID_REQUEST, 'Bad Request: Mcp-Method does not match the body', { id }),
    );
  }
  const named = method === 'tools/call' || method === 'prompts/get' ? params.name : method === 'resources/read' ? params.uri : undefined;
  if (named !== undefined && singleHeader(req, 'mcp-name') !== named) {
    return sendRpcError(
      res,
      httpRpcError(400, HEADER_MISMATCH, ErrorCodes.INVALID_REQUEST, 'Bad Request: Mcp-Name does not match the body', { id }),
    );
  }
  if (id === null) {
    // A notification: nothing to answer.
    res.statusCode = 202;
    res.end();
    return;
  }
  if (
    typeof params._meta !== 'object' ||
    params._meta === null ||
    params._meta['io.modelcontextprotocol/protocolVersion'] !== SESSIONLESS_VERSION
  ) {
    return sendRpcError(
      res,
      httpRpcError(
        400,
        JsonRpcCodes.INVALID_PARAMS,
        ErrorCodes.INVALID_PARAMS,
        `Invalid params: _meta must carry io.modelcontextprotocol/protocolVersion ${SESSIONLESS_VERSION}`,
        { id },
      ),
    );
  }
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort(new Error('the client disconnected'));
  });
  const context = (serverId: string): HandlerContext => ({
    serverId,
    scope,
    sessionId: undefined,
    workerId: deps.workerId,
    signal: abort.signal,
    // One JSON answer per request here: there is no stream to carry notifications on.
    sendProgress: async () => undefined,
    log: async () => undefined,
    createMessage: () => Promise.reject(new Error(`sampling is not available to ${SESSIONLESS_VERSION} requests`)),
    elicitInput: () => Promise.reject(new Error(`elicitation is not available to ${SESSIONLESS_VERSION} requests`)),
  });
  const listed = (result: object) => ({ ...result, resultType: 'complete', ttlMs: 0, cacheScope: 'private' });
  let result: unknown;
  try {
    switch (method) {
      case 'server/discover':
        result = {
          supportedVersions: [SESSIONLESS_VERSION, ...SUPPORTED_PROTOCOL_VERSIONS],
          capabilities: { tools: {}, resources: {}, prompts: {} },
          ...(deps.instructions === undefined ? {} : { instructions: deps.instructions }),
          resultType: 'complete',
          _meta: { 'io.modelcontextprotocol/serverInfo': deps.serverInfo },
        };
        break;
      case 'ping':
        result = { resultType: 'complete' };
        break;
      case 'tools/list':
        result = listed(listTools(deps.catalog, scope));
        break;
      case 'resources/list':
        result = listed(listResources(deps.catalog, scope));
        break;
      case 'resources/templates/list':
        result = listed(listResourceTemplates(deps.catalog, scope));
        break;
      case 'prompts/list':
        result = listed(listPrompts(deps.catalog, scope));
        break;
      case 'tools/call': {
        // Inside the scope only: another server's tool does not exist here, and never runs.
        const tool = deps.catalog.listTools(scope).find((t) => t.name === params.name);
        if (!tool) throw new RpcFailure(JsonRpcCodes.INVALID_PARAMS, `Unknown tool: ${String(params.name)}`);
        const args = (params.arguments ?? {}) as Record<string, unknown>;
        const invalid = deps.validateArguments(tool, args);
        if (invalid) {
          result = {
            isError: true,
            content: [{ type: 'text', text: `Invalid arguments for tool ${tool.name}: ${invalid}` }],
            resultType: 'complete',
          };
          break;
        }
        try {
          result = { ...(await tool.handler(args, context(tool.serverId))), resultType: 'complete' };
        } catch (error) {
          result = {
            isError: true,
            content: [{ type: 'text', text: `Tool ${tool.name} failed: ${error instanceof Error ? error.message : String(error)}` }],
            resultType: 'complete',
          };
        }
        break;
      }
      case 'resources/read': {
        const uri = String(params.uri);
        const resource = deps.catalog.listResources(scope).find((r) => r.uri === uri);
        const read = resource ? resource.read(context(resource.serverId)) : deps.readTemplate(scope, uri, context);
        if (!read) throw new RpcFailure(RESOURCE_NOT_FOUND, `Resource not found: ${uri}`);
        result = { ...((await read) as object), resultType: 'complete' };
        break;
      }
      case 'prompts/get': {
        const prompt = deps.catalog.listPrompts(scope).find((p) => p.name === params.name);
        if (!prompt) throw new RpcFailure(JsonRpcCodes.INVALID_PARAMS, `Unknown prompt: ${String(params.name)}`);
        result = {
          ...(await prompt.get((params.arguments ?? {}) as Record<string, string>, context(prompt.serverId))),
          resultType: 'complete',
        };
        break;
      }
      default:
        return sendRpcError(
          res,
          httpRpcError(404, JsonRpcCodes.METHOD_NOT_FOUND, ErrorCodes.INVALID_REQUEST, `Method not found: ${method}`, { id }),
        );
    }
  } catch (error) {
    const code = error instanceof RpcFailure ? error.rpcCode : JsonRpcCodes.INTERNAL_ERROR;
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id,
      error: { code, message: error instanceof Error ? error.message : 'Internal error' },
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  const body = JSON.stringify({ jsonrpc: '2.0', id, result });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
