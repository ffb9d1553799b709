/**
 * The Lua scripts `RedisStore` runs, each one atomic on the server, and how their answers become
 * records. Keys passed as KEYS; related keys built from a bucket's prefix share its hash tag, so
 * every script stays within one Redis Cluster slot.
 */
import { createHash } from 'node:crypto';
import type { SessionRecord } from '../types.js';

// KEYS[1] session hash, KEYS[2] the owner's session set. ARGV: workerId, scope, ttl, sessionId, snapshot.
const CLAIM = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'workerId', ARGV[1], 'scope', ARGV[2], 'epoch', 0, 'snapshot', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1`;

// KEYS[1] session hash, KEYS[2] owner's session set. ARGV: workerId, sessionId.
const RELEASE = `
if redis.call('HGET', KEYS[1], 'workerId') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0`;

// KEYS[1] session hash, KEYS[2] owner's session set. ARGV: workerId, scope, ttl, sessionId.
// Slides the expiry; re-creates the record when Redis lost it (a restart without persistence).
const TOUCH = `
local owner = redis.call('HGET', KEYS[1], 'workerId')
if owner == false then
  redis.call('HSET', KEYS[1], 'workerId', ARGV[1], 'scope', ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[4])
elseif owner ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1`;

// KEYS[1] a worker's session set in one bucket. ARGV: the bucket's session key prefix, workerId.
// The sessions the worker still owns go (one call per bucket: each bucket is one Cluster slot).
const DEREGISTER = `
local ids = redis.call('SMEMBERS', KEYS[1])
for _, id in ipairs(ids) do
  if redis.call('HGET', ARGV[1] .. id, 'workerId') == ARGV[2] then redis.call('DEL', ARGV[1] .. id) end
end
return redis.call('DEL', KEYS[1])`;

// KEYS[1] session hash. A session whose owner's heartbeat expired stays until its TTL, for another
// worker to adopt (session continuity).
const GET_SESSION = `
local fields = redis.call('HMGET', KEYS[1], 'workerId', 'scope', 'epoch', 'snapshot')
if fields[1] == false then return false end
return fields`;

// KEYS[1] session hash. ARGV: workerId, epoch, snapshot. Only the owner at that epoch writes.
const SAVE = `
local fields = redis.call('HMGET', KEYS[1], 'workerId', 'epoch')
if fields[1] ~= ARGV[1] or tostring(fields[2] or '0') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'snapshot', ARGV[3])
return 1`;

// KEYS[1] session hash. ARGV: adopter, the bucket's key prefix, the owner found gone, ttl, sessionId.
// A compare-and-set: the session moves only while that gone owner still holds it (the caller
// checked the owner's liveness, a key in another slot, before). Membership sets share the bucket.
const ADOPT = `
local owner = redis.call('HGET', KEYS[1], 'workerId')
if owner == false then return false end
if owner ~= ARGV[1] and owner == ARGV[3] then
  local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0') + 1
  redis.call('HSET', KEYS[1], 'workerId', ARGV[1], 'epoch', epoch)
  redis.call('SREM', ARGV[2] .. 'sessions:' .. owner, ARGV[5])
  redis.call('SADD', ARGV[2] .. 'sessions:' .. ARGV[1], ARGV[5])
  redis.call('PEXPIRE', ARGV[2] .. 'sessions:' .. ARGV[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return redis.call('HMGET', KEYS[1], 'workerId', 'scope', 'epoch', 'snapshot')`;

/** A session hash's fields (owner, scope, epoch, snapshot) as a record; `undefined` when absent. */
export function toRecord(sessionId: string, fields: unknown): SessionRecord | undefined {
  if (!Array.isArray(fields) || typeof fields[0] !== 'string') return undefined;
  const [workerId, scope, epoch, snapshot] = fields as [string, string, string | null, string | null];
  let parsed: SessionRecord['snapshot'] | null = null;
  try {
    parsed = snapshot ? (JSON.parse(snapshot) as SessionRecord['snapshot'] | null) : null;
  } catch {
    parsed = null;
  }
  return { sessionId, workerId, scope, epoch: Number(epoch ?? 0), ...(parsed ? { snapshot: parsed } : {}) };
}

export interface Script {
  readonly source: string;
  readonly sha: string;
}
const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });
export const SCRIPTS = {
  claim: script(CLAIM),
  release: script(RELEASE),
  touch: script(TOUCH),
  deregister: script(DEREGISTER),
  getSession: script(GET_SESSION),
  save: script(SAVE),
  adopt: script(ADOPT),
};
