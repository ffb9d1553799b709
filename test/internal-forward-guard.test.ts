/**
 * internalForwardGuard against real gateways: two workers sharing a MemoryStore, a session owned by
 * A on /servers/alpha/mcp, and crafted requests sent over new connections to A's public port and to
 * its internal listener. A request that claims to be a hop is served only with a valid, fresh,
 * unreplayed signature addressed to A; anything else gets 403 and no handler runs.
 */
import net from 'node:net';
import { SIGNATURE_HEADER, signHop } from '../lib/hop/hop-signature';
import { MemoryStore } from '../lib/index';
import type { Logger } from '../lib/types';
import {
  ACCEPT,
  type CallLog,
  openSession,
  type RawResponse,
  type RunningGateway,
  rawRequest,
  SECRET,
  startGateway,
  testCatalog,
  toolNames,
} from './helpers/gateway';

const ALPHA = '/servers/alpha/mcp';
const WRONG_SECRET = 'not-the-gateway-secret-0123456789-abcdefghijklmn';
const NEW_SECRET = 'rotation-new-secret-0123456789-abcdefghijklmnop';
const OLD_SECRET = 'rotation-old-secret-0123456789-abcdefghijklmnop';

const echoBody = (text = 'forged', id = 1): string =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text } } });
const listBody = (id = 1): string => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/list' });

const internalUrl = (gw: RunningGateway): string => gw.router.worker.workerRecord!.internalUrl;

/** Headers of an ordinary MCP request in a session (no hop marker). */
const mcpHeaders = (sessionId: string): Record<string, string> => ({
  'content-type': 'application/json',
  accept: ACCEPT,
  'mcp-protocol-version': '2025-06-18',
  'mcp-session-id': sessionId,
});

/**
 * One request over a raw socket, for what http.request cannot send: the same header twice under
 * two spellings.
 */
function socketRequest(url: string, path: string, headerLines: string[], body: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) }, () => {
      socket.write(
        [
          `POST ${path} HTTP/1.1`,
          `Host: ${hostname}:${port}`,
          ...headerLines,
          `Content-Length: ${Buffer.byteLength(body)}`,
          'Connection: close',
          '',
          body,
        ].join('\r\n'),
      );
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: split >= 0 ? text.slice(split + 4) : '' });
    });
  });
}

describe('internalForwardGuard on real gateways', () => {
  let store: MemoryStore;
  let calls: CallLog;
  let log: Array<{ level: 'info' | 'warn' | 'error'; message: string }>;
  let a: RunningGateway;
  let b: RunningGateway;
  let extra: RunningGateway[];
  let sessionId: string;

  const logger: Logger = {
    info: (message: unknown) => log.push({ level: 'info', message: String(message) }),
    warn: (message: unknown) => log.push({ level: 'warn', message: String(message) }),
    error: (message: unknown) => log.push({ level: 'error', message: String(message) }),
  };

  /** Where each crafted request is sent: the owner's public port and its internal listener. */
  const ownerUrls = (): Array<[string, string]> => [
    ['public', a.url],
    ['internal', internalUrl(a)],
  ];

  /** A signature for a hop from B to A, over the given request; every field can be overridden. */
  function sign(
    body: string,
    over: { secret?: string; method?: string; url?: string; sessionId?: string; to?: string; from?: string; now?: number } = {},
  ): string {
    return signHop(
      over.secret ?? SECRET,
      {
        method: over.method ?? 'POST',
        url: over.url ?? ALPHA,
        sessionId: over.sessionId ?? sessionId,
        targetWorkerId: over.to ?? a.workerId,
        sourceWorkerId: over.from ?? b.workerId,
        body: Buffer.from(body),
        // The headers hopHeaders() sends that the MAC covers.
        headers: mcpHeaders(over.sessionId ?? sessionId),
      },
      over.now,
    );
  }

  /** A hop's headers: marker plus signature. */
  const hopHeaders = (signature: string, session = sessionId): Record<string, string> => ({
    ...mcpHeaders(session),
    'x-forwarded-internally': 'true',
    [SIGNATURE_HEADER]: signature,
  });

  /** Clears the captured log, so each send is judged on its own. */
  async function send(
    url: string,
    init: { method?: string; headers: Record<string, string | string[]>; body: string },
  ): Promise<RawResponse> {
    log.length = 0;
    return rawRequest(url, init);
  }

  /**
   * The refusal every bad hop gets: 403, the JSON-RPC error body with HOP_REFUSED, refused by the
   * guard itself (its warning names the reason; rpcDispatch's backstop never ran), and no handler
   * of the catalog ran.
   */
  function expectRefused(response: { status: number; body: string; headers?: RawResponse['headers'] }, reason: string): void {
    expect(response.status).toBe(403);
    if (response.headers) expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(response.body)).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32000, message: expect.any(String), data: { code: 'ERR_MCP_AFFINITY_HOP_REFUSED' } },
    });
    expect(log.filter((l) => l.level === 'warn').map((l) => l.message)).toContainEqual(
      expect.stringContaining(`refused internal hop (${reason})`),
    );
    expect(log.filter((l) => l.level === 'error')).toEqual([]);
    if (response.headers) expect(response.headers['mcp-affinity-served-by']).toBeUndefined();
    expect(calls).toEqual([]);
  }

  /** A hop that was served: 200, the echo ran once on A, no refusal logged. */
  function expectEchoServed(response: RawResponse, text: string, owner: RunningGateway = a): void {
    expect(response.status).toBe(200);
    expect(response.headers['mcp-affinity-served-by']).toBe(owner.workerId);
    const [message] = response.messages();
    expect(message.error).toBeUndefined();
    expect(message.result.content).toEqual([{ type: 'text', text }]);
    expect(log.filter((l) => l.message.includes('refused internal hop'))).toEqual([]);
  }

  beforeEach(async () => {
    store = new MemoryStore();
    calls = [];
    log = [];
    extra = [];
    const catalog = testCatalog(calls);
    a = await startGateway({ store, catalog, logger });
    b = await startGateway({ store, catalog, logger });
    sessionId = await openSession(`${a.url}${ALPHA}`);
    expect(sessionId.startsWith(`${a.workerId}.`)).toBe(true);
    log.length = 0;
  });

  afterEach(async () => {
    await Promise.all([a.close(), b.close(), ...extra.map((g) => g.close())]);
  });

  describe('refusals', () => {
    test('x-forwarded-internally: true without a signature, on the owner and on a non-owner (which does not forward it)', async () => {
      const body = echoBody();
      for (const [, url] of [...ownerUrls(), ['non-owner public', b.url] as [string, string]]) {
        const before = a.seen.length;
        const response = await send(`${url}${ALPHA}`, { headers: { ...mcpHeaders(sessionId), 'x-forwarded-internally': 'true' }, body });
        expectRefused(response, 'missing-signature');
        if (url === b.url) expect(a.seen.length).toBe(before);
      }
    });

    test.each([['X-Forwarded-Internally'], ['X-FORWARDED-INTERNALLY'], ['x-Forwarded-internally']])(
      '%s: true (another letter case) without a signature',
      async (name) => {
        for (const [, url] of ownerUrls()) {
          const response = await send(`${url}${ALPHA}`, { headers: { ...mcpHeaders(sessionId), [name]: 'true' }, body: echoBody() });
          expectRefused(response, 'missing-signature');
        }
      },
    );

    test('the marker repeated, even alongside an otherwise valid signature', async () => {
      const body = echoBody();
      for (const [, url] of ownerUrls()) {
        const response = await send(`${url}${ALPHA}`, {
          headers: { ...hopHeaders(sign(body)), 'x-forwarded-internally': ['true', 'true'] },
          body,
        });
        expectRefused(response, 'repeated-header');
        // Twice under two spellings, which Node would otherwise fold into one "true, true".
        log.length = 0;
        const mixed = await socketRequest(
          url,
          ALPHA,
          [
            'Content-Type: application/json',
            `Accept: ${ACCEPT}`,
            'Mcp-Protocol-Version: 2025-06-18',
            `Mcp-Session-Id: ${sessionId}`,
            'X-Forwarded-Internally: true',
            'x-forwarded-internally: true',
            `X-Mcp-Affinity-Signature: ${sign(body)}`,
          ],
          body,
        );
        expectRefused(mixed, 'repeated-header');
      }
      // Control: the same request with the marker once is served.
      expectEchoServed(await send(`${internalUrl(a)}${ALPHA}`, { headers: hopHeaders(sign(body)), body }), 'forged');
    });

    test('the signature header repeated (two valid signatures)', async () => {
      const body = echoBody();
      for (const [, url] of ownerUrls()) {
        const response = await send(`${url}${ALPHA}`, {
          headers: { ...hopHeaders(''), [SIGNATURE_HEADER]: [sign(body), sign(body)] },
          body,
        });
        expectRefused(response, 'repeated-header');
      }
    });

    test.each([['false'], ['TRUE'], ['True'], ['1'], ['yes'], ['true, true'], ['']])(
      'a marker value other than "true" (%p), with a valid signature',
      async (value) => {
        const body = echoBody();
        for (const [, url] of ownerUrls()) {
          const response = await send(`${url}${ALPHA}`, { headers: { ...hopHeaders(sign(body)), 'x-forwarded-internally': value }, body });
          expectRefused(response, 'bad-marker');
        }
      },
    );

    test('a signature under a wrong secret', async () => {
      const body = echoBody();
      for (const [, url] of ownerUrls()) {
        const response = await send(`${url}${ALPHA}`, { headers: hopHeaders(sign(body, { secret: WRONG_SECRET })), body });
        expectRefused(response, 'bad-signature');
      }
    });

    test('an expired timestamp (31 s old) and one from the future beyond the window (31 s ahead)', async () => {
      const body = echoBody();
      for (const [, url] of ownerUrls()) {
        for (const offset of [-31_000, 31_000]) {
          const response = await send(`${url}${ALPHA}`, { headers: hopHeaders(sign(body, { now: Date.now() + offset })), body });
          expectRefused(response, 'stale');
        }
      }
    });

    test('a replay of a captured valid hop: the first is served, an identical second is refused on either listener', async () => {
      const body = echoBody('once');
      const headers = hopHeaders(sign(body));
      const first = await send(`${internalUrl(a)}${ALPHA}`, { headers, body });
      expectEchoServed(first, 'once');
      expect(calls).toEqual([`alpha/echo@${a.workerId}`]);
      calls.length = 0;
      for (const [, url] of [
        ['internal', internalUrl(a)],
        ['public', a.url],
      ]) {
        const again = await send(`${url}${ALPHA}`, { headers, body });
        expectRefused(again, 'replayed');
      }
    });

    test('a forgery reusing a valid hop’s nonce is refused without burning the nonce of the real hop', async () => {
      const body = echoBody('real');
      const valid = sign(body);
      const forged = valid.replace(/v1=[A-Za-z0-9_-]{43}$/, `v1=${'A'.repeat(43)}`);
      expect(forged).not.toBe(valid);
      for (const [, url] of ownerUrls()) {
        expectRefused(await send(`${url}${ALPHA}`, { headers: hopHeaders(forged), body }), 'bad-signature');
        // Same nonce, other body, signed under a wrong secret.
        const wrong = signHop(WRONG_SECRET, {
          method: 'POST',
          url: ALPHA,
          sessionId,
          targetWorkerId: a.workerId,
          sourceWorkerId: b.workerId,
          body: Buffer.from(body),
          headers: mcpHeaders(sessionId),
        });
        const sameNonce = wrong.replace(/n=[^,]+/, /n=[^,]+/.exec(valid)![0]);
        expectRefused(await send(`${url}${ALPHA}`, { headers: hopHeaders(sameNonce), body }), 'bad-signature');
      }
      expectEchoServed(await send(`${internalUrl(a)}${ALPHA}`, { headers: hopHeaders(valid), body }), 'real');
      expect(calls).toEqual([`alpha/echo@${a.workerId}`]);
    });

    test('a tampered body: signed over one body, sent with another', async () => {
      for (const [, url] of ownerUrls()) {
        const signed = echoBody('signed');
        const response = await send(`${url}${ALPHA}`, { headers: hopHeaders(sign(signed)), body: echoBody('tampered') });
        expectRefused(response, 'bad-signature');
        // Even a change that keeps the JSON's meaning (a trailing newline) breaks it.
        const spaced = await send(`${url}${ALPHA}`, { headers: hopHeaders(sign(signed)), body: `${signed}\n` });
        expectRefused(spaced, 'bad-signature');
      }
    });

    test('a tampered path or query', async () => {
      const body = echoBody();
      const variants: Array<{ signedUrl: string; sentUrl: string }> = [
        { signedUrl: ALPHA, sentUrl: `${ALPHA}?x=1` },
        { signedUrl: `${ALPHA}?x=1`, sentUrl: ALPHA },
        { signedUrl: `${ALPHA}?x=1`, sentUrl: `${ALPHA}?x=2` },
        { signedUrl: '/servers/beta/mcp', sentUrl: ALPHA },
        { signedUrl: ALPHA, sentUrl: '/servers/ALPHA/mcp' },
      ];
      for (const [, url] of ownerUrls()) {
        for (const { signedUrl, sentUrl } of variants) {
          const response = await send(`${url}${sentUrl}`, { headers: hopHeaders(sign(body, { url: signedUrl })), body });
          expectRefused(response, 'bad-signature');
        }
      }
    });

    test('a tampered method or session id', async () => {
      const body = echoBody();
      const otherSession = await openSession(`${a.url}${ALPHA}`);
      for (const [, url] of ownerUrls()) {
        const method = await send(`${url}${ALPHA}`, { headers: hopHeaders(sign(body, { method: 'GET' })), body });
        expectRefused(method, 'bad-signature');
        // Signed for one of A's alpha sessions, sent in another.
        const session = await send(`${url}${ALPHA}`, { headers: hopHeaders(sign(body, { sessionId }), otherSession), body });
        expectRefused(session, 'bad-signature');
      }
    });

    test('a signature addressed to another worker, or with its target rewritten', async () => {
      const body = echoBody();
      for (const [, url] of ownerUrls()) {
        const elsewhere = await send(`${url}${ALPHA}`, { headers: hopHeaders(sign(body, { to: b.workerId, from: a.workerId })), body });
        expectRefused(elsewhere, 'wrong-target');
        const rewritten = sign(body, { to: b.workerId }).replace(`to=${b.workerId}`, `to=${a.workerId}`);
        expect(rewritten).toContain(`to=${a.workerId},`);
        const response = await send(`${url}${ALPHA}`, { headers: hopHeaders(rewritten), body });
        expectRefused(response, 'bad-signature');
      }
    });

    test('X-Forwarded-For: 127.0.0.1 (and other address claims) plus the marker without a signature', async () => {
      const claims: Array<Record<string, string>> = [
        { 'X-Forwarded-For': '127.0.0.1' },
        { 'X-Forwarded-For': '127.0.0.1', 'X-Real-IP': '127.0.0.1', Forwarded: 'for=127.0.0.1' },
        { 'X-Forwarded-For': '::1, 127.0.0.1' },
      ];
      for (const [, url] of ownerUrls()) {
        for (const claim of claims) {
          const response = await send(`${url}${ALPHA}`, {
            headers: { ...mcpHeaders(sessionId), ...claim, 'x-forwarded-internally': 'true' },
            body: echoBody(),
          });
          expectRefused(response, 'missing-signature');
        }
      }
    });

    test('a malformed signature header', async () => {
      const body = echoBody();
      const valid = sign(body);
      const malformed = [
        '',
        'garbage',
        'v1=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        valid.slice(0, -1),
        `${valid}A`,
        valid.replace(/,/g, ', '),
        valid.replace(/^t=\d+/, 't=soon'),
        valid.replace(',from=', ',by='),
      ];
      for (const [, url] of ownerUrls()) {
        for (const value of malformed) {
          const response = await send(`${url}${ALPHA}`, { headers: hopHeaders(value), body });
          expectRefused(response, 'malformed-signature');
        }
      }
    });
  });

  describe('accepted hops', () => {
    test('a valid hop is served: tools/list shows only alpha’s tools, tools/call runs echo once on the owner', async () => {
      const list = listBody(5);
      const listed = await send(`${internalUrl(a)}${ALPHA}`, { headers: hopHeaders(sign(list)), body: list });
      expect(listed.status).toBe(200);
      expect(listed.headers['mcp-affinity-served-by']).toBe(a.workerId);
      expect(listed.messages()[0].id).toBe(5);
      expect(toolNames(listed)).toEqual(['add', 'echo']);
      expect(calls).toEqual([]);

      const body = echoBody('hello');
      expectEchoServed(await send(`${internalUrl(a)}${ALPHA}`, { headers: hopHeaders(sign(body)), body }), 'hello');
      expect(calls).toEqual([`alpha/echo@${a.workerId}`]);
    });

    test('the header names may come in any letter case on a valid hop', async () => {
      const body = echoBody('cased');
      const headers = { ...mcpHeaders(sessionId), 'X-Forwarded-Internally': 'true', 'X-MCP-Affinity-Signature': sign(body) };
      expectEchoServed(await send(`${internalUrl(a)}${ALPHA}`, { headers, body }), 'cased');
      expect(calls).toEqual([`alpha/echo@${a.workerId}`]);
    });

    test('a clock difference inside the window (20 s behind or ahead) is accepted', async () => {
      for (const offset of [-20_000, 20_000]) {
        const body = echoBody(`skew ${offset}`);
        const response = await send(`${internalUrl(a)}${ALPHA}`, { headers: hopHeaders(sign(body, { now: Date.now() + offset })), body });
        expectEchoServed(response, `skew ${offset}`);
      }
      expect(calls).toEqual([`alpha/echo@${a.workerId}`, `alpha/echo@${a.workerId}`]);
    });

    test('secret rotation: with secret [NEW, OLD], hops signed with OLD and with NEW are accepted, a third secret is refused', async () => {
      const rotating = await startGateway({ store, catalog: testCatalog(calls), logger, secret: [NEW_SECRET, OLD_SECRET] });
      extra.push(rotating);
      const session = await openSession(`${rotating.url}${ALPHA}`);
      const signFor = (secret: string, body: string): string =>
        signHop(secret, {
          method: 'POST',
          url: ALPHA,
          sessionId: session,
          targetWorkerId: rotating.workerId,
          sourceWorkerId: b.workerId,
          body: Buffer.from(body),
          headers: mcpHeaders(session),
        });

      for (const [name, secret] of [
        ['old', OLD_SECRET],
        ['new', NEW_SECRET],
      ] as const) {
        const body = echoBody(name);
        const response = await send(`${internalUrl(rotating)}${ALPHA}`, { headers: hopHeaders(signFor(secret, body), session), body });
        expectEchoServed(response, name, rotating);
      }
      expect(calls).toEqual([`alpha/echo@${rotating.workerId}`, `alpha/echo@${rotating.workerId}`]);
      calls.length = 0;

      for (const secret of [WRONG_SECRET, SECRET]) {
        for (const url of [rotating.url, internalUrl(rotating)]) {
          const body = echoBody();
          const response = await send(`${url}${ALPHA}`, { headers: hopHeaders(signFor(secret, body), session), body });
          expectRefused(response, 'bad-signature');
        }
      }

      // A peer not yet rotated (signing with OLD) still reaches the rotating worker through a real forward.
      const notYetRotated = await startGateway({ store, catalog: testCatalog(calls), logger, secret: OLD_SECRET });
      extra.push(notYetRotated);
      const body = echoBody('via peer');
      log.length = 0;
      const forwarded = await rawRequest(`${notYetRotated.url}${ALPHA}`, { headers: mcpHeaders(session), body });
      expect(forwarded.headers['mcp-affinity-forwarded']).toBe('true');
      expectEchoServed(forwarded, 'via peer', rotating);
      expect(calls).toEqual([`alpha/echo@${rotating.workerId}`]);
    });

    test('a valid signature for the right worker still cannot reach an unscoped view or another server', async () => {
      for (const path of ['/mcp', '/servers/beta/mcp']) {
        const body = echoBody();
        const response = await send(`${internalUrl(a)}${path}`, { headers: hopHeaders(sign(body, { url: path })), body });
        // The guard let it through (no refusal), and the session does not exist on that endpoint.
        expect(log.filter((l) => l.message.includes('refused internal hop'))).toEqual([]);
        expect(response.status).toBe(404);
        expect(response.messages()[0].error).toMatchObject({ code: -32001, data: { code: 'ERR_MCP_AFFINITY_SESSION_NOT_FOUND' } });
        const listed = await send(`${internalUrl(a)}${path}`, { headers: hopHeaders(sign(listBody(), { url: path })), body: listBody() });
        expect(listed.status).toBe(404);
      }
      expect(calls).toEqual([]);
    });
  });
});
