/**
 * The key layout of `RedisStore` (version 2), made to spread over a Redis Cluster:
 *
 * - `<prefix>v2:worker:<workerId>`: a worker's record (JSON, heartbeat TTL). One key per worker,
 *   read with one GET; no hash tag, so workers spread over the cluster too.
 * - `<prefix>v2:{<bucket>}:session:<sessionId>`: a session's hash (owner, scope, epoch, snapshot).
 * - `<prefix>v2:{<bucket>}:sessions:<workerId>`: the ids of a worker's sessions in that bucket.
 *
 * A session falls in one of `BUCKETS` buckets (a hash of its id); every bucket is its own hash tag,
 * so a session and its owner's membership set share a Cluster slot and every script touches one
 * slot. The bucket tags are chosen so their slots are evenly spaced over the 16384 slots: any
 * cluster whose masters hold even slot ranges gets an even share of the sessions.
 *
 * Version 1 put every key under `<prefix>{affinity}:`. The version is in every key so that two
 * layouts never read each other's records by mistake (see docs/multi-host.md on upgrading).
 */

export const LAYOUT_VERSION = 'v2';
/** Session buckets (hash tags). Deregistering a worker costs one script call per bucket. */
export const BUCKETS = 256;
const SLOTS = 16384;

/** CRC16 (XMODEM), as Redis Cluster computes key slots. */
export function crc16(text: string): number {
  let crc = 0;
  for (const byte of Buffer.from(text)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The Cluster slot of a hash tag's content. */
export const slotOf = (tag: string): number => crc16(tag) % SLOTS;

let tags: string[] | undefined;
/** Bucket i's tag: the first `<i>.<n>` whose slot falls in the i-th of BUCKETS even slot ranges. */
export function bucketTags(): readonly string[] {
  if (tags) return tags;
  const width = SLOTS / BUCKETS;
  tags = Array.from({ length: BUCKETS }, (_, i) => {
    for (let n = 0; ; n++) {
      const tag = `${i}.${n}`;
      if (Math.floor(slotOf(tag) / width) === i) return tag;
    }
  });
  return tags;
}

/** Escapes glob characters of a SCAN MATCH pattern. */
const globEscape = (text: string): string => text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

/** Every key name the store uses, under one prefix. */
export class RedisKeys {
  private readonly base: string;

  constructor(private readonly prefix: string) {
    this.base = `${prefix}${LAYOUT_VERSION}:`;
  }

  worker(workerId: string): string {
    return `${this.base}worker:${workerId}`;
  }
  /** Where a version-1 gateway on the same prefix keeps a worker (to warn about mixed versions). */
  legacyWorker(workerId: string): string {
    return `${this.prefix}{affinity}:worker:${workerId}`;
  }
  /** `<prefix>v2:{<bucket>}:` of the session's bucket. */
  bucketOf(sessionId: string): string {
    return this.bucket(bucketTags()[crc16(sessionId) % BUCKETS]!);
  }
  bucket(tag: string): string {
    return `${this.base}{${tag}}:`;
  }
  /** Every bucket's `<prefix>v2:{<bucket>}:`. */
  buckets(): string[] {
    return bucketTags().map((tag) => this.bucket(tag));
  }
  session(sessionId: string): string {
    return `${this.bucketOf(sessionId)}session:${sessionId}`;
  }
  sessionSet(sessionId: string, workerId: string): string {
    return `${this.bucketOf(sessionId)}sessions:${workerId}`;
  }
  /** The SCAN MATCH pattern of every session key. */
  sessionPattern(): string {
    return `${globEscape(this.base)}{*}:session:*`;
  }
  /** The session id a session key names. */
  sessionIdOf(key: string): string {
    const at = key.indexOf('}:session:', this.base.length);
    return key.slice(at + '}:session:'.length);
  }
  events(): string {
    return `${this.base}events`;
  }
}
