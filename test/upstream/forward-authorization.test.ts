/**
 * `forwardAuthorization`: the caller's own verified bearer token reaches an HTTP upstream (its
 * calls and its per-client upstream session's own requests), also when the call crossed workers;
 * without the option the upstream never sees it. Real JWTs (jose), a real upstream MCP server.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createCatalog, type MemoryCatalog, MemoryStore, newConnectionFetch, type Upstream, upstream } from '../../lib/index';
import { type RunningGateway, startGateway } from '../helpers/gateway';
import { type Keys, keys } from '../helpers/tokens';
import { startUpstreamServer, type UpstreamServer } from '../helpers/upstream-server';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

describe('forwardAuthorization', () => {
  let up: UpstreamServer;
  let k: Keys;
  let catalogs: MemoryCatalog[];
  let a: RunningGateway;
  let b: RunningGateway;
  beforeAll(async () => {
    up = await startUpstreamServer();
    k = await keys();
    const store = new MemoryStore();
    const sources: Upstream[] = [];
    catalogs = [0, 1].map(() => {
      const fwd = upstream({ url: up.url, name: 'fwd', prefix: 'fwd_', forwardAuthorization: true }, quiet);
      const own = upstream({ url: up.url, name: 'own', prefix: 'own_', bearerToken: 'gateway-secret' }, quiet);
      sources.push(...fwd.upstreams, ...own.upstreams);
      return createCatalog({ fed: { upstreams: [...fwd.upstreams, ...own.upstreams] } }, { logger: quiet });
    });
    await Promise.all(sources.map((source) => source.ready()));
    [a, b] = [
      await startGateway({ store, catalog: catalogs[0]!, auth: k.auth() }),
      await startGateway({ store, catalog: catalogs[1]!, auth: k.auth() }),
    ];
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    for (const catalog of catalogs ?? []) await catalog.close();
    await up?.close();
  });

  /** A client of A with `token`; `crossing`: its session requests go to B, which forwards them to A. */
  async function connect(token: string, crossing: boolean): Promise<{ client: Client; forwarded: string[] }> {
    const forwarded: string[] = [];
    const base = newConnectionFetch();
    const via: typeof fetch = async (input, init) => {
      const request = new Request(input, init);
      const url = new URL(request.url);
      if (crossing && request.headers.has('mcp-session-id')) url.port = new URL(b.url).port;
      const response = await base(url, {
        method: request.method,
        headers: request.headers,
        body: request.body ? await request.arrayBuffer() : undefined,
      });
      if (request.headers.has('mcp-session-id')) forwarded.push(response.headers.get('mcp-affinity-forwarded') ?? 'false');
      return response;
    };
    const client = new Client({ name: 'downstream', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL('/servers/fed/mcp', a.url), {
        fetch: via,
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    return { client, forwarded };
  }

  test.each([false, true])("the caller's token reaches the upstream with it, and only with it (crossing workers: %s)", async (crossing) => {
    const token = await k.mint(crossing ? 'bob' : 'alice');
    const { client, forwarded } = await connect(token, crossing);
    try {
      await waitListed(client);
      const before = up.authorizations.length;
      expect((await client.callTool({ name: 'fwd_add', arguments: { a: 2, b: 3 } })).content).toEqual([{ type: 'text', text: '5' }]);
      const forwardedCall = up.authorizations.slice(before);
      // The per-client upstream session's initialize and the call itself.
      expect(forwardedCall.filter((line) => line.startsWith('POST '))).toEqual(expect.arrayContaining([`POST Bearer ${token}`]));
      expect(forwardedCall.every((line) => line === `POST Bearer ${token}` || line.startsWith('GET ') || line.startsWith('DELETE '))).toBe(
        true,
      );
      const middle = up.authorizations.length;
      await client.callTool({ name: 'own_add', arguments: { a: 1, b: 1 } });
      const own = up.authorizations.slice(middle);
      expect(own.length).toBeGreaterThan(0);
      expect(own.some((line) => line.includes(token))).toBe(false);
      expect(own.filter((line) => line.startsWith('POST '))).toContain('POST Bearer gateway-secret');
      if (crossing) expect(new Set(forwarded)).toEqual(new Set(['true']));
    } finally {
      await client.close();
    }
  });

  async function waitListed(client: Client): Promise<void> {
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['fwd_add', 'own_add']));
  }

  test('is refused at creation for stdio, and when not a boolean, naming the option', () => {
    expect(() => upstream({ command: 'node', forwardAuthorization: true })).toThrow(/forwardAuthorization.*stdio/);
    expect(() => upstream({ url: 'http://127.0.0.1:1/mcp', forwardAuthorization: 'yes' as unknown as boolean })).toThrow(
      /forwardAuthorization.*"yes".*true or false/,
    );
  });
});
