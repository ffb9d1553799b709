/**
 * The hop signature on its own: what signHop writes, what parseSignature accepts, what macMatches
 * binds, and how the ReplayCache remembers nonces. No servers; the gateway-level behaviour is in
 * internal-forward-guard.test.ts.
 */
import { macMatches, type ParsedSignature, parseSignature, signHop } from '../lib/hop/hop-signature';
import { ReplayCache } from '../lib/hop/replay-cache';

const SECRET = 'unit-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const NEW_SECRET = 'rotation-new-secret-0123456789-abcdefghijklmnop';
const OLD_SECRET = 'rotation-old-secret-0123456789-abcdefghijklmnop';
const OTHER_SECRET = 'some-other-secret-0123456789-abcdefghijklmnopqr';

const hop = {
  method: 'POST',
  url: '/servers/alpha/mcp?trace=1&x=%20y',
  sessionId: 'wa1b2c3d4e5f6.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  targetWorkerId: 'wtarget000001',
  sourceWorkerId: 'wsource000002',
  body: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } })),
};
const request = { method: hop.method, url: hop.url, sessionId: hop.sessionId, body: hop.body };
const NOW = 1_750_000_000_000;

function parsed(value: string): ParsedSignature {
  const signature = parseSignature(value);
  if (!signature) throw new Error(`did not parse: ${value}`);
  return signature;
}

describe('signHop / parseSignature', () => {
  test('round trip: the header names timestamp, nonce, target and source, and its MAC verifies over the same request', () => {
    const value = signHop(SECRET, hop, NOW);
    expect(value).toMatch(
      new RegExp(`^t=${NOW},n=[A-Za-z0-9_-]{17,64},to=${hop.targetWorkerId},from=${hop.sourceWorkerId},v1=[A-Za-z0-9_-]{43}$`),
    );
    const signature = parsed(value);
    expect(signature).toMatchObject({ timestamp: NOW, targetWorkerId: hop.targetWorkerId, sourceWorkerId: hop.sourceWorkerId });
    expect(signature.nonce).toBe(/n=([^,]+)/.exec(value)![1]);
    expect(signature.mac).toHaveLength(32);
    expect(macMatches([SECRET], signature, request)).toBe(true);
  });

  test('the timestamp defaults to the current time', () => {
    const before = Date.now();
    const signature = parsed(signHop(SECRET, hop));
    const after = Date.now();
    expect(signature.timestamp).toBeGreaterThanOrEqual(before);
    expect(signature.timestamp).toBeLessThanOrEqual(after);
  });

  test('every signature carries a fresh nonce, so identical requests get different signatures', () => {
    const values = new Set(Array.from({ length: 50 }, () => signHop(SECRET, hop, NOW)));
    expect(values.size).toBe(50);
    const nonces = new Set([...values].map((v) => parsed(v).nonce));
    expect(nonces.size).toBe(50);
  });

  test('an empty body and an empty session id are signed and verified like any other value', () => {
    const empty = { ...hop, sessionId: '', body: Buffer.alloc(0) };
    const signature = parsed(signHop(SECRET, empty, NOW));
    expect(macMatches([SECRET], signature, { method: 'POST', url: hop.url, sessionId: '', body: Buffer.alloc(0) })).toBe(true);
    expect(macMatches([SECRET], signature, { method: 'POST', url: hop.url, sessionId: '', body: Buffer.from(' ') })).toBe(false);
  });

  test('the headers the owner acts on are covered: one changed, added or dropped fails the MAC; others do not matter', () => {
    const headers = {
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
      'mcp-protocol-version': '2025-06-18',
      authorization: 'Bearer abc',
      'x-mcp-affinity-principal': 'eyJjbGllbnRJZCI6ImEifQ',
    };
    const signature = parsed(signHop(SECRET, { ...hop, headers }, NOW));
    const verify = (h: Record<string, string>) => macMatches([SECRET], signature, { ...request, headers: h });
    expect(verify(headers)).toBe(true);
    expect(verify({ ...headers, 'user-agent': 'anything', 'x-custom': '1' })).toBe(true);
    expect(verify({ ...headers, accept: 'application/json' })).toBe(false);
    expect(verify({ ...headers, authorization: 'Bearer other' })).toBe(false);
    expect(verify({ ...headers, 'x-mcp-affinity-principal': 'eyJjbGllbnRJZCI6ImIifQ' })).toBe(false);
    expect(verify({ ...headers, 'last-event-id': '7' })).toBe(false);
    expect(verify({ ...headers, cookie: 'sid=1' })).toBe(false);
    const { authorization: _dropped, ...withoutAuthorization } = headers;
    expect(verify(withoutAuthorization)).toBe(false);
    // Present but empty is not absent.
    expect(verify({ ...headers, 'mcp-name': '' })).toBe(false);
  });

  describe('parseSignature rejects malformed headers', () => {
    const valid = signHop(SECRET, hop, NOW);
    const [t, n, to, from, v1] = valid.split(',') as [string, string, string, string, string];
    const mac = v1.slice(3);

    test('the valid header the variants below are derived from parses', () => {
      expect(parseSignature(valid)).toBeDefined();
      expect(parseSignature([t, n, to, from, v1].join(','))).toBeDefined();
    });

    test.each<[string, string]>([
      ['empty', ''],
      ['garbage', 'garbage'],
      ['only a MAC', v1],
      ['a field missing (nonce)', [t, to, from, v1].join(',')],
      ['a field missing (source)', [t, n, to, v1].join(',')],
      ['a field missing (MAC)', [t, n, to, from].join(',')],
      ['fields out of order', [n, t, to, from, v1].join(',')],
      ['an extra field', [t, n, to, from, v1, 'v2=abc'].join(',')],
      ['a duplicated field', [t, t, n, to, from, v1].join(',')],
      ['spaces after commas', [t, n, to, from, v1].join(', ')],
      ['leading whitespace', ` ${valid}`],
      ['trailing newline', `${valid}\n`],
      ['upper-case keys', valid.replace('t=', 'T=').replace('v1=', 'V1=')],
      ['non-numeric timestamp', valid.replace(t, 't=12ab')],
      ['negative timestamp', valid.replace(t, 't=-1750000000000')],
      ['fractional timestamp', valid.replace(t, 't=1750000000000.5')],
      ['timestamp of 17 digits', valid.replace(t, 't=12345678901234567')],
      ['empty timestamp', valid.replace(t, 't=')],
      ['nonce of 15 characters', valid.replace(n, `n=${'a'.repeat(15)}`)],
      ['nonce of 65 characters', valid.replace(n, `n=${'a'.repeat(65)}`)],
      ['nonce with a forbidden character', valid.replace(n, `n=${'a'.repeat(20)}+/`)],
      ['empty target', valid.replace(to, 'to=')],
      ['target with a dot', valid.replace(to, 'to=w1.w2')],
      ['target of 65 characters', valid.replace(to, `to=${'w'.repeat(65)}`)],
      ['empty source', valid.replace(from, 'from=')],
      ['source with a comma-like separator', valid.replace(from, 'from=a;b')],
      ['MAC of 42 characters', valid.replace(v1, `v1=${mac.slice(0, 42)}`)],
      ['MAC of 44 characters', valid.replace(v1, `v1=${mac}A`)],
      ['MAC with base64 padding', valid.replace(v1, `v1=${mac}=`)],
      ['MAC in standard base64 alphabet', valid.replace(v1, `v1=${mac.slice(0, 41)}+/`)],
      ['an unknown version', valid.replace('v1=', 'v2=')],
    ])('%s', (_name, value) => {
      expect(parseSignature(value)).toBeUndefined();
    });
  });
});

describe('macMatches binds every field', () => {
  const signature = parsed(signHop(SECRET, hop, NOW));

  test('the unchanged request matches (control)', () => {
    expect(macMatches([SECRET], signature, request)).toBe(true);
  });

  test.each<[string, Partial<typeof request>]>([
    ['method', { method: 'GET' }],
    ['url: path', { url: '/servers/beta/mcp?trace=1&x=%20y' }],
    ['url: query', { url: '/servers/alpha/mcp?trace=2&x=%20y' }],
    ['url: query dropped', { url: '/servers/alpha/mcp' }],
    ['url: encoding', { url: '/servers/alpha/mcp?trace=1&x=+y' }],
    ['sessionId', { sessionId: 'wa1b2c3d4e5f6.BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }],
    ['sessionId emptied', { sessionId: '' }],
    ['body', { body: Buffer.from(hop.body.toString().replace('"hi"', '"ho"')) }],
    ['body with a trailing space', { body: Buffer.concat([hop.body, Buffer.from(' ')]) }],
    ['body emptied', { body: Buffer.alloc(0) }],
  ])('changing the request’s %s breaks the MAC', (_name, change) => {
    expect(macMatches([SECRET], signature, { ...request, ...change })).toBe(false);
  });

  test.each<[string, Partial<ParsedSignature>]>([
    ['target worker', { targetWorkerId: 'wsomeoneelse1' }],
    ['source worker', { sourceWorkerId: 'wsomeoneelse1' }],
    ['timestamp (+1 ms)', { timestamp: NOW + 1 }],
    ['timestamp (-1 ms)', { timestamp: NOW - 1 }],
    ['nonce', { nonce: 'AAAAAAAAAAAAAAAAAAAAAA' }],
  ])('changing the signature’s %s breaks the MAC', (_name, change) => {
    expect(macMatches([SECRET], { ...signature, ...change }, request)).toBe(false);
  });

  test('rewriting a field in the header text (to=, from=, t=, n=) breaks the MAC', () => {
    const value = signHop(SECRET, hop, NOW);
    const nonce = parsed(value).nonce;
    const rewrites = [
      value.replace(`to=${hop.targetWorkerId}`, 'to=wsomeoneelse1'),
      value.replace(`from=${hop.sourceWorkerId}`, 'from=wsomeoneelse1'),
      value.replace(`t=${NOW}`, `t=${NOW + 1000}`),
      value.replace(`n=${nonce}`, `n=${nonce.slice(1)}x`),
    ];
    expect(macMatches([SECRET], parsed(value), request)).toBe(true);
    for (const rewritten of rewrites) {
      expect(rewritten).not.toBe(value);
      expect(macMatches([SECRET], parsed(rewritten), request)).toBe(false);
    }
  });

  test('a flipped bit in the MAC, or a MAC of another length, does not match (and does not throw)', () => {
    const flipped = Buffer.from(signature.mac);
    flipped[0] = flipped[0]! ^ 1;
    expect(macMatches([SECRET], { ...signature, mac: flipped }, request)).toBe(false);
    expect(macMatches([SECRET], { ...signature, mac: signature.mac.subarray(0, 31) }, request)).toBe(false);
    expect(macMatches([SECRET], { ...signature, mac: Buffer.alloc(0) }, request)).toBe(false);
  });

  test('another secret does not match', () => {
    expect(macMatches([OTHER_SECRET], signature, request)).toBe(false);
  });
});

describe('secret rotation', () => {
  const rotating = [NEW_SECRET, OLD_SECRET];

  test('a hop signed with any secret of the list verifies', () => {
    expect(macMatches(rotating, parsed(signHop(NEW_SECRET, hop, NOW)), request)).toBe(true);
    expect(macMatches(rotating, parsed(signHop(OLD_SECRET, hop, NOW)), request)).toBe(true);
    expect(macMatches([OLD_SECRET, NEW_SECRET], parsed(signHop(NEW_SECRET, hop, NOW)), request)).toBe(true);
  });

  test('a hop signed with a secret outside the list does not', () => {
    expect(macMatches(rotating, parsed(signHop(OTHER_SECRET, hop, NOW)), request)).toBe(false);
    // Once the old secret is retired, its hops stop verifying.
    expect(macMatches([NEW_SECRET], parsed(signHop(OLD_SECRET, hop, NOW)), request)).toBe(false);
  });

  test('an empty list verifies nothing', () => {
    expect(macMatches([], parsed(signHop(SECRET, hop, NOW)), request)).toBe(false);
  });

  test('rotation does not loosen field binding', () => {
    const signature = parsed(signHop(OLD_SECRET, hop, NOW));
    expect(macMatches(rotating, signature, { ...request, url: '/servers/beta/mcp' })).toBe(false);
    expect(macMatches(rotating, { ...signature, targetWorkerId: 'wsomeoneelse1' }, request)).toBe(false);
  });
});

describe('ReplayCache', () => {
  const caches: ReplayCache[] = [];
  const cache = (windowMs: number): ReplayCache => {
    const created = new ReplayCache(windowMs);
    caches.push(created);
    return created;
  };

  afterEach(() => {
    for (const c of caches.splice(0)) c.close();
    jest.useRealTimers();
  });

  test('remembers a nonce and refuses its repeat; other nonces are unaffected', () => {
    const replay = cache(30_000);
    const now = Date.now();
    expect(replay.remember('nonce-aaaaaaaaaaaaaa', now)).toBe(true);
    expect(replay.remember('nonce-aaaaaaaaaaaaaa', now)).toBe(false);
    // A repeat is refused whatever timestamp it claims.
    expect(replay.remember('nonce-aaaaaaaaaaaaaa', now + 5)).toBe(false);
    expect(replay.remember('nonce-bbbbbbbbbbbbbb', now)).toBe(true);
    expect(replay.size).toBe(2);
  });

  test('two caches are independent', () => {
    const one = cache(30_000);
    const two = cache(30_000);
    expect(one.remember('shared-nonce-000000', Date.now())).toBe(true);
    expect(two.remember('shared-nonce-000000', Date.now())).toBe(true);
  });

  test('a nonce is kept for as long as its timestamp could still pass the clock window, then swept', () => {
    jest.useFakeTimers({ now: NOW });
    const replay = cache(1000);
    expect(replay.remember('nonce-cccccccccccccc', NOW)).toBe(true);
    // Within the window (and beyond it, up to timestamp + 2 windows): still refused.
    jest.advanceTimersByTime(2000);
    expect(replay.size).toBe(1);
    expect(replay.remember('nonce-cccccccccccccc', NOW)).toBe(false);
    // Past timestamp + 2 windows the sweeper drops it.
    jest.advanceTimersByTime(1000);
    expect(replay.size).toBe(0);
  });

  test('a nonce stamped in the future is kept until its own timestamp leaves the window', () => {
    jest.useFakeTimers({ now: NOW });
    const replay = cache(1000);
    expect(replay.remember('nonce-dddddddddddddd', NOW + 1000)).toBe(true);
    jest.advanceTimersByTime(3000);
    expect(replay.size).toBe(1);
    expect(replay.remember('nonce-dddddddddddddd', NOW + 1000)).toBe(false);
    jest.advanceTimersByTime(1000);
    expect(replay.size).toBe(0);
  });

  test('close() clears the sweeper timer and forgets every nonce', () => {
    jest.useFakeTimers({ now: NOW });
    const timersBefore = jest.getTimerCount();
    const replay = cache(1000);
    expect(jest.getTimerCount()).toBe(timersBefore + 1);
    replay.remember('nonce-eeeeeeeeeeeeee', NOW);
    replay.close();
    expect(jest.getTimerCount()).toBe(timersBefore);
    expect(replay.size).toBe(0);
    // Closing twice is harmless.
    expect(() => replay.close()).not.toThrow();
  });

  test('close() calls clearInterval on the timer it created (real timers)', () => {
    const setSpy = jest.spyOn(global, 'setInterval');
    const clearSpy = jest.spyOn(global, 'clearInterval');
    try {
      const replay = cache(30_000);
      expect(setSpy).toHaveBeenCalledTimes(1);
      const timer = setSpy.mock.results[0]!.value as NodeJS.Timeout;
      // The sweeper never keeps the process alive on its own.
      expect(timer.hasRef()).toBe(false);
      replay.close();
      expect(clearSpy).toHaveBeenCalledWith(timer);
    } finally {
      setSpy.mockRestore();
      clearSpy.mockRestore();
    }
  });
});
