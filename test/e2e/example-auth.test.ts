/**
 * examples/multi-worker with bearer auth from its environment (MCP_JWKS_FILE, MCP_JWT_ISSUER,
 * MCP_JWT_AUDIENCE, MCP_AUTH_POLICY), driven by the SDK client with real tokens: 401 without one,
 * a session that works across the workers for its principal only, and the policy's virtual
 * servers hidden from the principal it names.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { newConnectionFetch } from '../../lib/index';
import { type ExampleCluster, startExampleCluster } from '../helpers/example-cluster';
import { initializeBody, rpc } from '../helpers/gateway';

const ISSUER = 'https://issuer.example';
const AUDIENCE = 'https://mcp.example';

describe('examples/multi-worker with bearer auth', () => {
  let cluster: ExampleCluster;
  let mint: (sub: string) => Promise<string>;
  let dir: string;
  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    dir = mkdtempSync(path.join(os.tmpdir(), 'mcp-auth-'));
    const jwksFile = path.join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' }] }));
    mint = (sub) =>
      new SignJWT({ scope: 'mcp' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(sub)
        .setExpirationTime('10m')
        .sign(privateKey);
    cluster = await startExampleCluster(2, {
      env: {
        MCP_JWKS_FILE: jwksFile,
        MCP_JWT_ISSUER: ISSUER,
        MCP_JWT_AUDIENCE: AUDIENCE,
        MCP_PUBLIC_URL: AUDIENCE,
        MCP_AUTH_POLICY: JSON.stringify({ bob: ['alpha'] }),
      },
    });
  });
  afterAll(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('no token: 401 naming the metadata; the metadata is served', async () => {
    const refused = await rpc(`${cluster.url}/servers/beta/mcp`, initializeBody());
    expect(refused.status).toBe(401);
    expect(String(refused.headers['www-authenticate'])).toContain(
      `resource_metadata="${AUDIENCE}/.well-known/oauth-protected-resource/servers/beta/mcp"`,
    );
    const metadata = (await (await fetch(`${cluster.url}/.well-known/oauth-protected-resource/servers/beta/mcp`)).json()) as object;
    expect(metadata).toMatchObject({ resource: `${AUDIENCE}/servers/beta/mcp`, authorization_servers: [ISSUER] });
  });

  test('alice’s SDK client works across both workers; bob cannot use her session, nor see beta', async () => {
    const alice = await mint('alice');
    const received: string[] = [];
    const fresh = newConnectionFetch();
    const transport = new StreamableHTTPClientTransport(new URL('/servers/beta/mcp', cluster.url), {
      // Records which worker received each request (the example names it in a header).
      fetch: async (url, init) => {
        const response = await fresh(url, init);
        received.push(String(response.headers.get('mcp-affinity-received-by')));
        return response;
      },
      requestInit: { headers: { authorization: `Bearer ${alice}` } },
    });
    const client = new Client({ name: 'alice', version: '1.0.0' });
    await client.connect(transport);
    try {
      const servedBy = new Set<string>();
      for (let i = 0; i < 24; i++) {
        const answer = await client.callTool({ name: 'whoami', arguments: {} });
        servedBy.add(JSON.parse((answer.content as Array<{ text: string }>)[0]!.text).workerId);
      }
      // One owner serves every call, whichever worker received it: both did.
      expect(servedBy.size).toBe(1);
      expect(new Set(received).size).toBe(2);
      const bob = await mint('bob');
      const session = String(transport.sessionId);
      const list = { jsonrpc: '2.0', id: 9, method: 'tools/list' };
      for (let i = 0; i < 4; i++) {
        const hijack = await rpc(`${cluster.url}/servers/beta/mcp`, list, { authorization: `Bearer ${bob}`, 'mcp-session-id': session });
        expect(hijack.status).toBe(404);
      }
      const hidden = await rpc(`${cluster.url}/servers/beta/mcp`, initializeBody(), { authorization: `Bearer ${bob}` });
      expect(hidden.status).toBe(404);
      expect((await rpc(`${cluster.url}/servers/alpha/mcp`, initializeBody(), { authorization: `Bearer ${bob}` })).status).toBe(200);
    } finally {
      await client.close();
    }
  });
});
