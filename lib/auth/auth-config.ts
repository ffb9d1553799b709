/** The `auth` option, checked once at creation. */
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import { invalidOption } from '../options/validations.js';
import type { AuthOptions, AuthorizePolicy } from '../types.js';

export interface AuthConfig {
  readonly verifier: OAuthTokenVerifier;
  /** Without a trailing slash. */
  readonly publicUrl: string;
  readonly authorizationServers: readonly string[];
  readonly requiredScopes: readonly string[];
  readonly scopesSupported: readonly string[];
  readonly authorize: AuthorizePolicy | undefined;
}

const strings = (value: unknown): value is readonly string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');

export function resolveAuth(owner: string, auth: AuthOptions | undefined): AuthConfig | undefined {
  if (auth === undefined) return undefined;
  const name = (field: string) => `auth.${field}`;
  if (typeof auth !== 'object' || auth === null)
    throw invalidOption(owner, 'auth', auth, 'expected { verifier, publicUrl, authorizationServers }.');
  if (typeof auth.verifier?.verifyAccessToken !== 'function') {
    throw invalidOption(
      owner,
      name('verifier'),
      auth.verifier,
      'expected an OAuthTokenVerifier such as jwtVerifier({ jwksUrl, issuer, audience }).',
    );
  }
  if (typeof auth.publicUrl !== 'string' || !/^https?:\/\//.test(auth.publicUrl) || !URL.canParse(auth.publicUrl)) {
    throw invalidOption(
      owner,
      name('publicUrl'),
      auth.publicUrl,
      "expected the gateway's public URL as clients reach it, such as 'https://mcp.example.com'.",
    );
  }
  if (
    !strings(auth.authorizationServers) ||
    auth.authorizationServers.length === 0 ||
    !auth.authorizationServers.every((u) => URL.canParse(u))
  ) {
    throw invalidOption(
      owner,
      name('authorizationServers'),
      auth.authorizationServers,
      'expected an array of authorization server URLs (the token issuers).',
    );
  }
  for (const field of ['requiredScopes', 'scopesSupported'] as const) {
    if (auth[field] !== undefined && !strings(auth[field]))
      throw invalidOption(owner, name(field), auth[field], 'expected an array of scope strings.');
  }
  if (auth.authorize !== undefined && typeof auth.authorize !== 'function') {
    throw invalidOption(
      owner,
      name('authorize'),
      auth.authorize,
      'expected a function ({ auth, serverId, kind, name }) => boolean | Promise<boolean>.',
    );
  }
  const requiredScopes = [...(auth.requiredScopes ?? [])];
  return {
    verifier: auth.verifier,
    publicUrl: auth.publicUrl.replace(/\/+$/, ''),
    authorizationServers: [...auth.authorizationServers],
    requiredScopes,
    scopesSupported: [...(auth.scopesSupported ?? requiredScopes)],
    authorize: auth.authorize,
  };
}
