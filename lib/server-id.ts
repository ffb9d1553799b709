import type { McpScope } from './types.js';

/** Letters, digits, `_` and `-`, starting with a letter or digit, at most 64 characters. */
export const DEFAULT_SERVER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** A scope as one string, the form records keep: the virtual server id, or `*` for `/mcp`. */
export const scopeKey = (scope: McpScope): string => (scope.kind === 'server' ? scope.serverId : '*');
