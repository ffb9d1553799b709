/**
 * The `ctx` every tool, resource and prompt handler receives, built the same way in both protocol
 * eras. What differs between eras is only the channel back to the client: a 2025 session has one
 * (the request's SSE stream and server-to-client requests); a 2026-07-28 request has none yet.
 */

import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import {
  type CreateMessageRequestParamsBase,
  type CreateMessageResult,
  type ElicitRequestParams,
  type ElicitResult,
  ErrorCode,
  type LoggingLevel,
  LoggingLevelSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';
import type { HandlerContext, McpScope } from '../types.js';
import { linkContext, type RequestLink } from './session-link.js';

/** Log levels by severity, lowest first, as the SDK lists them. */
const LOG_SEVERITY = new Map<LoggingLevel, number>(LoggingLevelSchema.options.map((level, index) => [level, index]));

/** How a handler reaches the client, when the era gives it a way. */
export interface ClientChannel {
  /** Sends a notification on the request's stream. */
  notify(method: string, params: Record<string, unknown>): Promise<void>;
  /** The client's declared capabilities. */
  capabilities(): { sampling?: object; elicitation?: object } | undefined;
  createMessage(params: CreateMessageRequestParamsBase): Promise<CreateMessageResult>;
  elicitInput(params: ElicitRequestParams): Promise<ElicitResult>;
  /** The level the session asked for with `logging/setLevel`, if any. */
  logLevel(): LoggingLevel | undefined;
}

export interface HandlerContextInput {
  readonly serverId: string;
  readonly scope: McpScope;
  readonly sessionId: string | undefined;
  readonly workerId: string;
  readonly auth: AuthInfo | undefined;
  readonly signal: AbortSignal;
  readonly progressToken: string | number | undefined;
  /** `undefined` when the era has no channel back to the client. */
  readonly channel: ClientChannel | undefined;
  /** Names the era in the refusal when there is no channel. */
  readonly era: string;
  /** The request's session and trace context, for upstreams (`requestLink`). */
  readonly link?: RequestLink;
}

export function createHandlerContext(input: HandlerContextInput): HandlerContext {
  const { channel, progressToken, era } = input;
  const unavailable = (what: string) =>
    Promise.reject(new McpError(ErrorCode.InvalidRequest, `${what} is not available to ${era} requests`));
  const ctx: HandlerContext = {
    serverId: input.serverId,
    scope: input.scope,
    sessionId: input.sessionId,
    workerId: input.workerId,
    auth: input.auth,
    signal: input.signal,
    sendProgress: async (progress, total, message) => {
      if (progressToken === undefined || !channel) return;
      await channel.notify('notifications/progress', { progressToken, progress, total, message });
    },
    log: async (level, data, logger) => {
      if (!channel) return;
      const wanted = channel.logLevel();
      if (wanted !== undefined && (LOG_SEVERITY.get(level) ?? 0) < (LOG_SEVERITY.get(wanted) ?? 0)) return;
      await channel.notify('notifications/message', { level, data, ...(logger === undefined ? {} : { logger }) });
    },
    createMessage: (params) => {
      if (!channel) return unavailable('sampling');
      if (!channel.capabilities()?.sampling) {
        return Promise.reject(new McpError(ErrorCode.InvalidRequest, 'The client does not support sampling (no sampling capability)'));
      }
      return channel.createMessage(params);
    },
    elicitInput: (params) => {
      if (!channel) return unavailable('elicitation');
      if (!channel.capabilities()?.elicitation) {
        return Promise.reject(
          new McpError(ErrorCode.InvalidRequest, 'The client does not support elicitation (no elicitation capability)'),
        );
      }
      return channel.elicitInput(params);
    },
  };
  if (input.link) linkContext(ctx, input.link);
  return ctx;
}
