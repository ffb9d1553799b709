/** Letters, digits, `_` and `-`, starting with a letter or digit, at most 64 characters. */
export const DEFAULT_SERVER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
