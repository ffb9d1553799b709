/**
 * The signature of a hop between workers: HMAC-SHA256 under a shared secret over everything that
 * decides what the owner does with the request, so that a captured hop can be neither altered nor
 * replayed, nor redirected to another worker.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-mcp-affinity-signature';

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
  return [
    'v1',
    fields.method.toUpperCase(),
    fields.url,
    fields.sessionId,
    fields.targetWorkerId,
    fields.sourceWorkerId,
    String(fields.timestamp),
    fields.nonce,
    digest,
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
  request: Pick<HopFields, 'method' | 'url' | 'sessionId' | 'body'>,
): boolean {
  const text = canonical({ ...request, ...signature });
  let matched = false;
  for (const secret of secrets) {
    const expected = mac(secret, text);
    if (expected.length === signature.mac.length && timingSafeEqual(expected, signature.mac)) matched = true;
  }
  return matched;
}
