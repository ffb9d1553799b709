/**
 * The principal a hop carries: the receiving worker's verified `AuthInfo`, less the token (the
 * owner takes it from the signed `Authorization` header), in one header under the hop's MAC.
 * And the key a session is bound to.
 */
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';

export const PRINCIPAL_HEADER = 'x-mcp-affinity-principal';

/** Whether `value` has the SDK's `AuthInfo` shape (other middlewares use `req.auth` too). */
export const isAuthInfo = (value: unknown): value is AuthInfo =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as AuthInfo).clientId === 'string' &&
  Array.isArray((value as AuthInfo).scopes);

/**
 * The header value for `auth`; `undefined` when it is not an `AuthInfo` or not plain JSON (a
 * BigInt, a cycle): nothing is carried, and the owner's app, run again, sets its own.
 */
export function encodePrincipal(auth: unknown): string | undefined {
  if (!isAuthInfo(auth)) return undefined;
  const { token: _token, ...rest } = auth;
  try {
    return Buffer.from(JSON.stringify(rest)).toString('base64url');
  } catch {
    return undefined;
  }
}

/** The `AuthInfo` of a verified hop's header, with the token from its `Authorization`. */
export function decodePrincipal(value: string, authorization: string | undefined): AuthInfo | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Omit<AuthInfo, 'token'>;
    if (typeof parsed !== 'object' || parsed === null || typeof parsed.clientId !== 'string' || !Array.isArray(parsed.scopes))
      return undefined;
    const token = /^bearer\s+(.+)$/i.exec(authorization ?? '')?.[1] ?? '';
    return { ...parsed, token };
  } catch {
    return undefined;
  }
}

/**
 * Who a token speaks for, as one string: the issuer and subject when the verifier reported them
 * (`jwtVerifier` does), else the client id. A session is bound to it at `initialize`.
 */
export function principalOf(auth: AuthInfo | undefined): string | undefined {
  if (!isAuthInfo(auth)) return undefined;
  const extra = auth.extra as { iss?: unknown; sub?: unknown } | undefined;
  if (typeof extra?.sub === 'string') return `${typeof extra.iss === 'string' ? extra.iss : ''} ${extra.sub}`;
  return `client ${auth.clientId}`;
}

/** The `AuthInfo` on a request (`req.auth`, the SDK's convention). */
export const authOf = (req: object): AuthInfo | undefined => (req as { auth?: AuthInfo }).auth;
