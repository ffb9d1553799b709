/**
 * Authentication, identity across the hop, sessions bound to their principal and authorization,
 * on two real gateways (A and B) sharing a store, with real ES256 tokens signed by `jose` and
 * verified against a JWKS by `jwtVerifier`. Requests sent to B for sessions A owns cross workers
 * (A's app sees them as internal hops).
 */

import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import { type AuthorizePolicy, createCatalog, MemoryStore } from '../../lib/index';
import { ACCEPT, initializeBody, type RawResponse, type RunningGateway, rpc, startGateway } from '../helpers/gateway';
import { ISSUER, type Keys, keys, PUBLIC_URL } from '../helpers/tokens';

const VERSION = '2026-07-28';

/** bob may not see beta's `whoami`, nor use gamma at all. */
const policy: AuthorizePolicy = ({ auth, serverId, kind, name }) => {
  const sub = (auth.extra as { sub?: string }).sub;
  if (sub !== 'bob') return true;
  if (kind === 'server') return serverId !== 'gamma';
  if (serverId === 'beta' && kind === 'resource' && name === 'memo://beta/private') return false;
  return !(serverId === 'beta' && kind === 'tool' && name === 'whoami');
};

function authCatalog(calls: string[]) {
  const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });
  return createCatalog({
    beta: {
      tools: [
        {
          name: 'me',
          inputSchema: { type: 'object', properties: {} },
          handler: (_args, ctx) => (
            calls.push(`me@${ctx.workerId}`),
            text(
              JSON.stringify({
                sub: (ctx.auth?.extra as { sub?: string })?.sub,
                scopes: ctx.auth?.scopes,
                hasToken: Boolean(ctx.auth?.token),
              }),
            )
          ),
        },
        {
          name: 'whoami',
          inputSchema: { type: 'object', properties: {} },
          handler: (_a, ctx) => (calls.push(`whoami@${ctx.workerId}`), text('w')),
        },
      ],
      resources: [
        { uri: 'memo://beta/public', name: 'public', read: () => ({ contents: [{ uri: 'memo://beta/public', text: 'p' }] }) },
        {
          uri: 'memo://beta/private',
          name: 'private',
          read: () => (calls.push('private read'), { contents: [{ uri: 'memo://beta/private', text: 'secret' }] }),
        },
      ],
      // A visible template whose pattern also matches the hidden resource's URI: it must not serve it.
      resourceTemplates: [
        {
          uriTemplate: 'memo://beta/{name}',
          name: 'any',
          read: (uri) => (calls.push('template read'), { contents: [{ uri, text: 't' }] }),
        },
      ],
    },
    gamma: { tools: [{ name: 'g', inputSchema: { type: 'object', properties: {} }, handler: () => text('g') }] },
  });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const session = (id: string, token: string) => ({ ...bearer(token), 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' });
const call = (id: number, name: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } });
const listTools = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/list' });

/** The JSON-RPC message of a response (JSON or one SSE event). */
function message(response: RawResponse): any {
  const text = response.body.trim();
  const data = text.startsWith('{') ? text : (/^data: (.*)$/m.exec(text)?.[1] ?? 'null');
  return JSON.parse(data);
}

describe('auth: bearer tokens, identity across the hop, sessions bound to principals, authorization', () => {
  let a: RunningGateway;
  let b: RunningGateway;
  let k: Keys;
  const calls: string[] = [];
  const verified = { a: 0, b: 0 };

  beforeAll(async () => {
    k = await keys();
    const store = new MemoryStore();
    const counting = (name: 'a' | 'b'): OAuthTokenVerifier => ({
      verifyAccessToken: (token) => (verified[name]++, k.verifier.verifyAccessToken(token)),
    });
    const auth = (name: 'a' | 'b') => ({
      verifier: counting(name),
      publicUrl: PUBLIC_URL,
      authorizationServers: [ISSUER],
      requiredScopes: ['mcp'],
      authorize: policy,
    });
    a = await startGateway({ store, catalog: authCatalog(calls), auth: auth('a') });
    b = await startGateway({ store, catalog: authCatalog(calls), auth: auth('b') });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  async function open(gateway: RunningGateway, token: string, server = 'beta'): Promise<string> {
    const init = await rpc(`${gateway.url}/servers/${server}/mcp`, initializeBody(), bearer(token));
    expect(init.status).toBe(200);
    const id = String(init.headers['mcp-session-id']);
    await rpc(`${gateway.url}/servers/${server}/mcp`, { jsonrpc: '2.0', method: 'notifications/initialized' }, session(id, token));
    return id;
  }

  test('no token: 401 with WWW-Authenticate naming the endpoint’s Protected Resource Metadata', async () => {
    const response = await rpc(`${b.url}/servers/beta/mcp`, initializeBody());
    expect(response.status).toBe(401);
    expect(String(response.headers['www-authenticate'])).toContain(
      `resource_metadata="${PUBLIC_URL}/.well-known/oauth-protected-resource/servers/beta/mcp"`,
    );
    expect(JSON.parse(response.body).error).toBe('invalid_token');
    const unscoped = await rpc(`${b.url}/mcp`, initializeBody());
    expect(String(unscoped.headers['www-authenticate'])).toContain(
      `resource_metadata="${PUBLIC_URL}/.well-known/oauth-protected-resource/mcp"`,
    );
  });

  test('Protected Resource Metadata for /mcp and each virtual server; none for an unknown one', async () => {
    const meta = await fetch(`${a.url}/.well-known/oauth-protected-resource/servers/beta/mcp`);
    expect(meta.status).toBe(200);
    expect(await meta.json()).toMatchObject({
      resource: `${PUBLIC_URL}/servers/beta/mcp`,
      authorization_servers: [ISSUER],
      scopes_supported: ['mcp'],
    });
    const root = (await (await fetch(`${a.url}/.well-known/oauth-protected-resource/mcp`)).json()) as { resource: string };
    expect(root.resource).toBe(`${PUBLIC_URL}/mcp`);
    expect((await fetch(`${a.url}/.well-known/oauth-protected-resource/servers/nope/mcp`)).status).toBe(404);
  });

  test('a wrong scope gets 403 insufficient_scope; a forged or expired token 401', async () => {
    const noScope = await rpc(`${a.url}/servers/beta/mcp`, initializeBody(), bearer(await k.mint('alice', { scope: 'other' })));
    expect(noScope.status).toBe(403);
    expect(String(noScope.headers['www-authenticate'])).toContain('error="insufficient_scope"');
    const other = await keys();
    const forged = await rpc(`${a.url}/servers/beta/mcp`, initializeBody(), bearer(await other.mint('alice')));
    expect(forged.status).toBe(401);
    const expired = await rpc(
      `${a.url}/servers/beta/mcp`,
      initializeBody(),
      bearer(await k.mint('alice', { scope: 'mcp' }, Math.floor(Date.now() / 1000) - 3600)),
    );
    expect(expired.status).toBe(401);
  });

  test('the principal crosses the hop signed: verified once on the receiving worker, ctx.auth on the owner', async () => {
    const token = await k.mint('alice');
    const id = await open(a, token);
    const before = { ...verified };
    const hopsBefore = a.seen.filter((s) => s.internal).length;
    const answer = await rpc(`${b.url}/servers/beta/mcp`, call(2, 'me'), session(id, token));
    expect(answer.status).toBe(200);
    expect(a.seen.filter((s) => s.internal).length).toBe(hopsBefore + 1);
    expect(JSON.parse(message(answer).result.content[0].text)).toEqual({ sub: 'alice', scopes: ['mcp'], hasToken: true });
    expect(calls.at(-1)).toBe(`me@${a.workerId}`);
    // B verified the token; A, the owner, did not verify it again.
    expect(verified.b - before.b).toBe(1);
    expect(verified.a - before.a).toBe(0);
  });

  test('another principal’s token with a valid session id gets 404, exactly as an unknown session, locally and forwarded', async () => {
    const alice = await k.mint('alice');
    const mallory = await k.mint('mallory');
    const id = await open(a, alice);
    const unknown = await rpc(`${a.url}/servers/beta/mcp`, listTools(3), session(`${a.workerId}.${'x'.repeat(32)}`, mallory));
    for (const gateway of [a, b]) {
      const hijack = await rpc(`${gateway.url}/servers/beta/mcp`, listTools(3), session(id, mallory));
      expect(hijack.status).toBe(404);
      expect(hijack.body).toBe(unknown.body);
      // No token at all: 401 before anything looks at the session.
      const anonymous = await rpc(`${gateway.url}/servers/beta/mcp`, listTools(3), { 'mcp-session-id': id });
      expect(anonymous.status).toBe(401);
    }
    // An expired token of the right principal, mid-session: 401.
    const expired = await k.mint('alice', { scope: 'mcp' }, Math.floor(Date.now() / 1000) - 3600);
    expect((await rpc(`${b.url}/servers/beta/mcp`, listTools(4), session(id, expired))).status).toBe(401);
    // The owner still serves the session to alice.
    expect((await rpc(`${b.url}/servers/beta/mcp`, listTools(5), session(id, alice))).status).toBe(200);
  });

  test('a policy hides beta’s whoami from bob: absent from the list, refused on call as unknown, never run; locally, forwarded, 2026-07-28', async () => {
    const bob = await k.mint('bob');
    const alice = await k.mint('alice');
    const id = await open(a, bob);
    const ran = calls.length;
    for (const gateway of [a, b]) {
      const list = message(await rpc(`${gateway.url}/servers/beta/mcp`, listTools(6), session(id, bob)));
      expect(list.result.tools.map((t: { name: string }) => t.name)).toEqual(['me']);
      const refused = message(await rpc(`${gateway.url}/servers/beta/mcp`, call(7, 'whoami'), session(id, bob)));
      const unknown = message(await rpc(`${gateway.url}/servers/beta/mcp`, call(7, 'nosuchtool'), session(id, bob)));
      expect(refused.error.code).toBe(unknown.error.code);
      expect(refused.error.message).toContain('Unknown tool: whoami');
    }
    const meta = {
      'io.modelcontextprotocol/protocolVersion': VERSION,
      'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' },
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    const sessionless = (token: string, body: object, method: string, name?: string) =>
      rpc(`${b.url}/servers/beta/mcp`, body, {
        ...bearer(token),
        accept: ACCEPT,
        'mcp-protocol-version': VERSION,
        'mcp-method': method,
        ...(name ? { 'mcp-name': name } : {}),
      });
    const list = message(await sessionless(bob, { jsonrpc: '2.0', id: 8, method: 'tools/list', params: { _meta: meta } }, 'tools/list'));
    expect(list.result.tools.map((t: { name: string }) => t.name)).toEqual(['me']);
    const body = { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'whoami', arguments: {}, _meta: meta } };
    const refused = message(await sessionless(bob, body, 'tools/call', 'whoami'));
    expect(refused.error.message).toContain('Unknown tool: whoami');
    expect(calls.slice(ran)).toEqual([]);
    // alice sees and runs it.
    const allowed = message(await sessionless(alice, { ...body, id: 10 }, 'tools/call', 'whoami'));
    expect(allowed.result.content[0].text).toBe('w');
  });

  test('a hidden resource: absent from the list, read and subscribe answered as not found, forwarded', async () => {
    const bob = await k.mint('bob');
    const id = await open(a, bob);
    const viaB = (body: object) => rpc(`${b.url}/servers/beta/mcp`, body, session(id, bob));
    const listed = message(await viaB({ jsonrpc: '2.0', id: 11, method: 'resources/list' }));
    expect(listed.result.resources.map((r: { uri: string }) => r.uri)).toEqual(['memo://beta/public']);
    const before = calls.length;
    for (const method of ['resources/read', 'resources/subscribe']) {
      const hidden = message(await viaB({ jsonrpc: '2.0', id: 12, method, params: { uri: 'memo://beta/private' } }));
      const unknown = message(await viaB({ jsonrpc: '2.0', id: 13, method, params: { uri: 'none://nothing' } }));
      expect(hidden.error.code).toBe(-32002);
      expect(hidden.error.code).toBe(unknown.error.code);
    }
    expect(calls.length).toBe(before);
  });

  test('the binding survives a move: the owner drains, another worker adopts; the principal goes on, others get 404', async () => {
    const store = new MemoryStore();
    const first = await startGateway({ store, catalog: authCatalog(calls), auth: k.auth({ requiredScopes: ['mcp'] }) });
    const second = await startGateway({ store, catalog: authCatalog(calls), auth: k.auth({ requiredScopes: ['mcp'] }) });
    try {
      const alice = await k.mint('alice');
      const id = await open(first, alice);
      await first.close(); // hands its sessions off
      const answer = await rpc(`${second.url}/servers/beta/mcp`, call(14, 'me'), session(id, alice));
      expect(answer.status).toBe(200);
      expect(JSON.parse(message(answer).result.content[0].text).sub).toBe('alice');
      expect(calls.at(-1)).toBe(`me@${second.workerId}`);
      expect((await rpc(`${second.url}/servers/beta/mcp`, listTools(15), session(id, await k.mint('mallory')))).status).toBe(404);
    } finally {
      await second.close();
    }
  });

  test('with the user’s own bearer middleware (no `auth` option): a bound session asked without a principal is 404, as unknown', async () => {
    const store = new MemoryStore();
    // The SDK's requireBearerAuth, mounted by the user when a token is sent: req.auth as the convention says.
    const optionalBearer = requireBearerAuth({ verifier: k.verifier });
    const configure = (app: import('express').Express, router: import('../../lib/index').McpAffinityRouter) => {
      app.use((req, res, next) => (req.headers.authorization ? optionalBearer(req, res, next) : next()));
      app.use(router);
    };
    const first = await startGateway({ store, catalog: authCatalog(calls) }, configure);
    const second = await startGateway({ store, catalog: authCatalog(calls) }, configure);
    try {
      const alice = await k.mint('alice');
      const id = await open(first, alice);
      const unknown = await rpc(`${first.url}/servers/beta/mcp`, listTools(16), {
        'mcp-session-id': `${first.workerId}.${'y'.repeat(32)}`,
      });
      for (const gateway of [first, second]) {
        const anonymous = await rpc(`${gateway.url}/servers/beta/mcp`, listTools(16), { 'mcp-session-id': id });
        expect(anonymous.status).toBe(404);
        expect(anonymous.body).toBe(unknown.body);
        expect((await rpc(`${gateway.url}/servers/beta/mcp`, listTools(16), session(id, alice))).status).toBe(200);
      }
    } finally {
      await second.close();
      await first.close();
    }
  });

  test('a virtual server the policy denies does not exist for that principal', async () => {
    const refused = await rpc(`${b.url}/servers/gamma/mcp`, initializeBody(), bearer(await k.mint('bob')));
    expect(refused.status).toBe(404);
    expect(JSON.parse(refused.body).error.data.code).toBe('ERR_MCP_AFFINITY_UNKNOWN_SERVER');
    expect((await rpc(`${b.url}/servers/gamma/mcp`, initializeBody(), bearer(await k.mint('alice')))).status).toBe(200);
  });
});
