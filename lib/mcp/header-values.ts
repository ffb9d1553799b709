/** Header values of 2026-07-28 (`Mcp-Name`, `Mcp-Param-*`): plain, or base64 in a sentinel. */
/**
 * A header value as sent: plain, or `=?base64?<base64 of the UTF-8 bytes>?=` for values a header
 * cannot carry as they are. Compared with the body only once decoded.
 */
export function decodeHeaderValue(value: string | undefined): string | undefined {
  const encoded = value === undefined ? null : /^=\?base64\?([A-Za-z0-9+/]*={0,2})\?=$/i.exec(value.trim());
  return encoded ? Buffer.from(encoded[1]!, 'base64').toString('utf8') : value;
}
