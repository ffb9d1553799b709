/** Real JWTs for tests: an ES256 key pair, its JWKS, a `jwtVerifier` over it, and a minter. */
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { type AuthOptions, jwtVerifier } from '../../lib/index';

export const ISSUER = 'https://issuer.test';
export const PUBLIC_URL = 'https://gw.test';

export interface Keys {
  /** A token for `sub`, with `claims` (default `scope: 'mcp'`), expiring in `expiresIn` (or at that epoch second). */
  mint(sub: string, claims?: Record<string, unknown>, expiresIn?: string | number): Promise<string>;
  verifier: OAuthTokenVerifier;
  /** The `auth` option for a gateway trusting these keys. */
  auth(extra?: Partial<AuthOptions>): AuthOptions;
}

export async function keys(): Promise<Keys> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
  const verifier = jwtVerifier({ jwks: { keys: [jwk] }, issuer: ISSUER, audience: PUBLIC_URL });
  return {
    verifier,
    auth: (extra = {}) => ({ verifier, publicUrl: PUBLIC_URL, authorizationServers: [ISSUER], ...extra }),
    mint: (sub, claims = { scope: 'mcp' }, expiresIn = '10m') =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(ISSUER)
        .setAudience(PUBLIC_URL)
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime(expiresIn)
        .sign(privateKey),
  };
}
