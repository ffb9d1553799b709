/**
 * The signature of a hop between workers: HMAC-SHA256 under a shared secret over everything that
 * decides what the owner does with the request, so that a captured hop can be neither altered nor
 * replayed, nor redirected to another worker.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { PRINCIPAL_HEADER } from '../auth/principal.js';

export const SIGNATURE_HEADER = 'x-mcp-affinity-signature';

/**
 * The request headers the owner acts on, covered by the MAC: what is answered (Accept, the
 * protocol version, Last-Event-ID), how the body is read, who asks (Authorization, the principal,
 * Cookie for a user's app that `listen(app)` runs again), and the 2026-07-28 routing headers. A
 * proxy between workers can change none of them, nor add one.
 */
export const SIGNED_HEADERS = [
  'accept',
  'content-type',
  'mcp-protocol-version',
  'last-event-id',
  'authorization',
  'cookie',
  'mcp-method',
  'mcp-name',
  PRINCIPAL_HEADER,
] as const;

export interface HopFields {
  readonly method: string;
  /** Path and query exactly as the client sent them. */
  readonly url: string;
  readonly sessionId: string;
  readonly targetWorkerId: string;
  readonly sourceWorkerId: string;
  /** Milliseconds since the epoch, on the signer's clock. */
  readonly timestamp: number;
  readonly nonce: string;
  readonly body: Buffer;
  /** The request's headers, of which `SIGNED_HEADERS` are covered. @default none */
  readonly headers?: IncomingHttpHeaders | OutgoingHttpHeaders;
}

export type HopRefusal =
  | 'missing-signature'
  | 'malformed-signature'
  | 'bad-marker'
  | 'repeated-header'
  | 'wrong-target'
  | 'stale'
  | 'bad-signature'
  | 'replayed';

/** The text the MAC covers; the body enters as its digest, computed once per hop. */
function canonical(fields: HopFields): string {
  const digest = createHash('sha256').update(fields.body).digest('hex');
  const headers = SIGNED_HEADERS.map((name) => {
    const value = fields.headers?.[name];
    // Absent and empty differ: an added header changes the text.
    return value === undefined ? `${name}!` : `${name}=${Array.isArray(value) ? value.join(', ') : String(value)}`;
  });
  return [
    'v2',
    fields.method.toUpperCase(),
    fields.url,
    fields.sessionId,
    fields.targetWorkerId,
    fields.sourceWorkerId,
    String(fields.timestamp),
    fields.nonce,
    digest,
    ...headers,
  ].join('\n');
}

const mac = (secret: string, text: string): Buffer => createHmac('sha256', secret).update(text).digest();

// A nonce only has to be unique (the MAC makes it unforgeable): a random per-process prefix and a
// counter are, and cost a fraction of fresh random bytes on every forward.
const noncePrefix = randomBytes(12).toString('base64url');
let nonceCounter = 0;
const nextNonce = (): string => `${noncePrefix}${(nonceCounter++).toString(36)}`;

/** The value of the signature header for a hop. */
export function signHop(secret: string, fields: Omit<HopFields, 'timestamp' | 'nonce'>, now = Date.now()): string {
  const full: HopFields = { ...fields, timestamp: now, nonce: nextNonce() };
  return `t=${full.timestamp},n=${full.nonce},to=${full.targetWorkerId},from=${full.sourceWorkerId},v1=${mac(secret, canonical(full)).toString('base64url')}`;
}

const SIGNATURE_PATTERN =
  /^t=(\d{1,16}),n=([A-Za-z0-9_-]{16,64}),to=([A-Za-z0-9_-]{1,64}),from=([A-Za-z0-9_-]{1,64}),v1=([A-Za-z0-9_-]{43})$/;

export interface ParsedSignature {
  readonly timestamp: number;
  readonly nonce: string;
  readonly targetWorkerId: string;
  readonly sourceWorkerId: string;
  readonly mac: Buffer;
}

export function parseSignature(value: string): ParsedSignature | undefined {
  const match = SIGNATURE_PATTERN.exec(value);
  if (!match) return undefined;
  return {
    timestamp: Number(match[1]),
    nonce: match[2]!,
    targetWorkerId: match[3]!,
    sourceWorkerId: match[4]!,
    mac: Buffer.from(match[5]!, 'base64url'),
  };
}

/** Whether any of `secrets` produced `signature.mac` over the request. Constant-time per secret. */
export function macMatches(
  secrets: readonly string[],
  signature: ParsedSignature,
  request: Pick<HopFields, 'method' | 'url' | 'sessionId' | 'body' | 'headers'>,
): boolean {
  const text = canonical({ ...request, ...signature });
  let matched = false;
  for (const secret of secrets) {
    const expected = mac(secret, text);
    if (expected.length === signature.mac.length && timingSafeEqual(expected, signature.mac)) matched = true;
  }
  return matched;
}
