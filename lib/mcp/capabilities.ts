/** What the gateway announces, from one place for both eras. */
import type { ServerCapabilities } from '@modelcontextprotocol/sdk/types.js';

/** The 2025 session era: notifications reach the client on its GET stream. */
export const SESSION_CAPABILITIES: ServerCapabilities = Object.freeze({
  tools: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  prompts: { listChanged: true },
  logging: {},
  completions: {},
});

/**
 * 2026-07-28: the same methods, less `logging/setLevel`; list changes and resource updates reach
 * a `subscriptions/listen` stream.
 */
export const SESSIONLESS_CAPABILITIES: ServerCapabilities = Object.freeze({
  tools: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  prompts: { listChanged: true },
  completions: {},
});
