/**
 * `jwtVerifier()`: an SDK `OAuthTokenVerifier` for JWT access tokens, on `jose`. The keys come from
 * a JWKS, by URL (fetched and cached by jose, refetched for an unknown key id: key rotation needs no
 * restart) or inline; issuer, audience and expiry are checked, with a clock tolerance.
 */
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { createLocalJWKSet, createRemoteJWKSet, errors, type JSONWebKeySet, type JWTPayload, jwtVerify } from 'jose';
import { invalidOption } from '../options/validations.js';

const OWNER = 'jwtVerifier';

export interface JwtVerifierOptions {
  /** Where the issuer publishes its keys (`jwks_uri`). One of `jwksUrl` and `jwks`. */
  jwksUrl?: string;
  /** The keys themselves, as a JWKS document (`{ keys: [...] }`). */
  jwks?: JSONWebKeySet;
  /** The `iss` every token must carry. */
  issuer: string;
  /** The `aud` every token must carry (this gateway's resource identifier). */
  audience: string | readonly string[];
  /** Seconds of clock difference accepted on `exp`, `nbf` and `iat`. @default 30 */
  clockToleranceSeconds?: number;
  /** Allowed signing algorithms. @default ['RS256', 'ES256', 'EdDSA', 'PS256'] */
  algorithms?: readonly string[];
}

/** Scopes from `scope` (space-separated, RFC 9068) or `scp` (an array, as some issuers send). */
function scopesOf(payload: JWTPayload): string[] {
  if (typeof payload.scope === 'string') return payload.scope.split(' ').filter(Boolean);
  if (Array.isArray(payload.scp)) return payload.scp.filter((s): s is string => typeof s === 'string');
  return [];
}

function keysFrom(options: JwtVerifierOptions): Parameters<typeof jwtVerify>[1] {
  if ((options.jwksUrl === undefined) === (options.jwks === undefined)) {
    throw invalidOption(
      OWNER,
      'jwksUrl',
      options.jwksUrl,
      'give exactly one of jwksUrl (the issuer’s jwks_uri) and jwks (a JWKS document).',
    );
  }
  if (options.jwks !== undefined) {
    if (!Array.isArray(options.jwks?.keys))
      throw invalidOption(OWNER, 'jwks', options.jwks, 'expected a JWKS document: { keys: [ ...JWKs ] }.');
    return createLocalJWKSet(options.jwks);
  }
  if (!URL.canParse(String(options.jwksUrl))) throw invalidOption(OWNER, 'jwksUrl', options.jwksUrl, 'expected an absolute URL.');
  return createRemoteJWKSet(new URL(String(options.jwksUrl)));
}

export function jwtVerifier(options: JwtVerifierOptions): OAuthTokenVerifier {
  if (typeof options?.issuer !== 'string' || options.issuer === '') {
    throw invalidOption(OWNER, 'issuer', options?.issuer, 'expected the issuer identifier tokens carry in `iss`.');
  }
  const audiences = typeof options.audience === 'string' ? [options.audience] : options.audience;
  if (!Array.isArray(audiences) || audiences.length === 0 || !audiences.every((a) => typeof a === 'string' && a !== '')) {
    throw invalidOption(
      OWNER,
      'audience',
      options.audience,
      "expected this gateway's resource identifier (a string, or an array of them).",
    );
  }
  const keys = keysFrom(options);
  const verifyOptions = {
    issuer: options.issuer,
    audience: [...audiences],
    clockTolerance: options.clockToleranceSeconds ?? 30,
    algorithms: [...(options.algorithms ?? ['RS256', 'ES256', 'EdDSA', 'PS256'])],
  };
  return {
    async verifyAccessToken(token: string): Promise<AuthInfo> {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys, verifyOptions));
      } catch (error) {
        // Says what was wrong with the token (expired, wrong audience, bad signature), never why else.
        const reason = error instanceof errors.JOSEError ? error.message : 'the token could not be verified';
        throw new InvalidTokenError(`Invalid token: ${reason}`);
      }
      const clientId = [payload.client_id, payload.azp, payload.sub].find((v): v is string => typeof v === 'string') ?? '';
      return {
        token,
        clientId,
        scopes: scopesOf(payload),
        ...(payload.exp === undefined ? {} : { expiresAt: payload.exp }),
        extra: { iss: payload.iss, sub: payload.sub },
      };
    },
  };
}
