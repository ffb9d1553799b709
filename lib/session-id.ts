/**
 * Session ids name their owner: `<workerId>.<192 random bits, base64url>`, so any worker finds a
 * session's owner with a string split, without a lookup.
 */
import { randomBytes } from 'node:crypto';

/** 24 random bytes: 192 bits, beyond the 128 the session id must carry. */
const SESSION_RANDOM_BYTES = 24;
/** `<workerId>.<32 base64url characters>`, as `newSessionId()` makes them. */
const SESSION_ID_PATTERN = /^([A-Za-z0-9_-]{1,64})\.[A-Za-z0-9_-]{32}$/;

export function newSessionId(workerId: string): string {
  return `${workerId}.${randomBytes(SESSION_RANDOM_BYTES).toString('base64url')}`;
}

/** The worker id written into a session id, or `undefined` when the id is not one this package issues. */
export function ownerOf(sessionId: string): string | undefined {
  return SESSION_ID_PATTERN.exec(sessionId)?.[1];
}
