/**
 * The channel back to a 2026-07-28 client: there is no stream to notify on or ask over, so a
 * question (`ctx.elicitInput`, `ctx.createMessage`) becomes a multi round-trip request
 * (`input-required.ts`), asked only of a client that declared the capability in its `_meta`.
 */
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { principalOf } from '../auth/principal.js';
import { scopeKey } from '../server-id.js';
import type { McpScope } from '../types.js';
import type { ClientChannel } from './handler-context.js';
import { bindingOf, openState, questionsOf } from './input-required.js';

/** The methods whose handlers may ask (SEP-2322): a tool, a prompt, a resource read. */
export const ROUND_TRIP_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);

export function roundTripChannel(
  secrets: readonly string[],
  method: string,
  scope: McpScope,
  rawParams: Record<string, unknown>,
  auth: AuthInfo | undefined,
): ClientChannel {
  // Bound to the endpoint too: a state from one virtual server opens nothing on another.
  const bound = bindingOf(`${scopeKey(scope)} ${method}`, rawParams, principalOf(auth));
  // Throws InvalidRequestState for a state this gateway did not seal for this request.
  const answers = openState(secrets, rawParams.requestState, bound, rawParams.inputResponses);
  const questions = questionsOf(secrets[0]!, bound, answers);
  const meta = rawParams._meta as Record<string, unknown> | undefined;
  const capabilities = meta?.['io.modelcontextprotocol/clientCapabilities'] as { sampling?: object; elicitation?: object } | undefined;
  return {
    notify: async () => undefined,
    capabilities: () => capabilities,
    createMessage: async (params) => questions.ask('sampling/createMessage', params),
    elicitInput: async (params) => questions.ask('elicitation/create', params),
    logLevel: () => undefined,
  };
}
