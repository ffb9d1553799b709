/**
 * `@modelcontextprotocol/server-everything` as a real upstream, over Streamable HTTP (its own
 * process on a free port) and over stdio (the gateway spawns it through `upstream({ command,
 * args })`), federated as the virtual server `ev` of two gateway workers (each with its own
 * upstream connection, as separate processes would have), driven by the SDK client: lists, plain
 * calls, its long-running tool with progress under the client's own token, cancellation reaching
 * the upstream (seen in what the gateway sent it), resource reads and its resource-list change;
 * each directly on the session's owner and with every session request crossing workers.
 *
 * Sampling and resource subscriptions pass through too, over stdio as well (a sampling request
 * there goes to the one call in flight on the process).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { createCatalog, type MemoryCatalog, MemoryStore, newConnectionFetch, type Upstream, upstream } from '../../lib/index';
import { type RunningGateway, startGateway } from '../helpers/gateway';
import {
  type EverythingHttp,
  type EverythingStdio,
  everythingStdio,
  type RecordedMessage,
  startEverythingHttp,
} from '../helpers/server-everything';
import { deferred, waitFor } from '../helpers/wait';

jest.setTimeout(30_000);

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const texts = (result: Record<string, unknown>) => (result.content as Array<{ type: string; text?: string }>).map((c) => c.text ?? c.type);

interface Setup {
  a: RunningGateway;
  b: RunningGateway;
  /** What the gateways sent to the upstream, so far. */
  sent(): RecordedMessage[];
}

/** A client of /servers/ev/mcp on A; `crossing`: every request carrying the session id goes to B. */
function clientFor(setup: Setup, crossing: boolean, capabilities: Record<string, unknown> = {}) {
  const forwarded: string[] = [];
  const base = newConnectionFetch();
  const fetchVia: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    if (crossing && request.headers.has('mcp-session-id')) url.port = new URL(setup.b.url).port;
    const response = await base(url, {
      method: request.method,
      headers: request.headers,
      body: request.body ? await request.arrayBuffer() : undefined,
      signal: request.signal,
    });
    forwarded.push(`${request.method} ${response.headers.get('mcp-affinity-forwarded') ?? 'false'}`);
    return response;
  };
  const client = new Client({ name: 'downstream', version: '1' }, { capabilities });
  const connect = () => client.connect(new StreamableHTTPClientTransport(new URL('/servers/ev/mcp', setup.a.url), { fetch: fetchVia }));
  /** Checks the requests crossed (or not): each answer's `mcp-affinity-forwarded`. */
  const expectCrossed = () => {
    const answered = forwarded.slice(1); // the initialize, on A
    expect(answered.length).toBeGreaterThan(0);
    expect(new Set(answered.map((line) => line.split(' ')[1]))).toEqual(new Set([crossing ? 'true' : 'false']));
  };
  return { client, connect, expectCrossed };
}

function suite(
  name: string,
  start: () => Promise<{ url?: string; command?: string; args?: string[]; sent(): RecordedMessage[]; close(): Promise<void> }>,
) {
  describe(`server-everything over ${name}`, () => {
    let setup: Setup;
    let upstreamProcess: Awaited<ReturnType<typeof start>>;
    let catalogs: MemoryCatalog[] = [];
    beforeAll(async () => {
      upstreamProcess = await start();
      const { url, command, args } = upstreamProcess;
      const store = new MemoryStore();
      const parts = [0, 1].map(() => upstream(url ? { url, timeoutMs: 10_000 } : { command: command!, args, timeoutMs: 10_000 }, quiet));
      catalogs = parts.map((part) => createCatalog({ ev: { ...part } }, { logger: quiet }));
      await Promise.all(parts.map((part) => (part.upstreams[0] as Upstream).ready()));
      const [a, b] = [await startGateway({ store, catalog: catalogs[0]! }), await startGateway({ store, catalog: catalogs[1]! })];
      setup = { a, b, sent: () => upstreamProcess.sent() };
    });
    afterAll(async () => {
      await setup?.b.close();
      await setup?.a.close();
      for (const catalog of catalogs) await catalog.close();
      await upstreamProcess?.close();
    });

    test.each([false, true])('lists, plain calls and resource reads (crossing workers: %s)', async (crossing) => {
      const { client, connect, expectCrossed } = clientFor(setup, crossing);
      await connect();
      try {
        const tools = (await client.listTools()).tools.map((t) => t.name);
        expect(tools).toEqual(expect.arrayContaining(['echo', 'get-sum', 'trigger-long-running-operation', 'gzip-file-as-resource']));
        const resources = (await client.listResources()).resources.map((r) => r.uri);
        expect(resources).toContain('demo://resource/static/document/features.md');
        const templates = (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
        expect(templates).toEqual(expect.arrayContaining(['demo://resource/dynamic/text/{resourceId}']));
        expect((await client.listPrompts()).prompts.map((p) => p.name)).toEqual(expect.arrayContaining(['simple-prompt', 'args-prompt']));

        expect(texts(await client.callTool({ name: 'echo', arguments: { message: `hi ${crossing}` } }))).toEqual([`Echo: hi ${crossing}`]);
        expect(texts(await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } }))).toEqual(['The sum of 2 and 40 is 42.']);
        expect(setup.sent().some((m) => m.method === 'tools/call' && m.params?.arguments?.message === `hi ${crossing}`)).toBe(true);

        const doc = await client.readResource({ uri: 'demo://resource/static/document/features.md' });
        expect((doc.contents[0] as { text: string }).text).toMatch(/# Everything Server - Features/);
        const dynamic = await client.readResource({ uri: 'demo://resource/dynamic/text/7' });
        expect(dynamic.contents[0]!.uri).toBe('demo://resource/dynamic/text/7');
        const prompt = await client.getPrompt({ name: 'args-prompt', arguments: { city: 'Lyon' } });
        expect(JSON.stringify(prompt.messages)).toContain('Lyon');
        // An unknown argument is the upstream's own error, named.
        await expect(client.callTool({ name: 'get-sum', arguments: { a: 'x' } })).resolves.toMatchObject({ isError: true });
        expectCrossed();
      } finally {
        await client.close();
      }
    });

    test.each([false, true])('the long-running tool’s progress reaches the client under its own token (crossing: %s)', async (crossing) => {
      const { client, connect, expectCrossed } = clientFor(setup, crossing);
      await connect();
      try {
        const progress: Array<{ progress: number; total?: number }> = [];
        const result = await client.callTool(
          { name: 'trigger-long-running-operation', arguments: { duration: 0.2, steps: 2 } },
          undefined,
          {
            onprogress: (p) => progress.push({ progress: p.progress, total: p.total }),
          },
        );
        expect(texts(result)[0]).toMatch(/Long running operation completed. Duration: 0.2 seconds, Steps: 2/);
        // The first step's progress, under the client's own token (the SDK client calls onprogress
        // only for its token). The last one, sent just before the result, can be lost: see
        // test/upstream/failures.test.ts ('the last progress before the result').
        expect(progress[0]).toEqual({ progress: 1, total: 2 });
        expect(progress.every((p, i) => p.progress === i + 1 && p.total === 2)).toBe(true);
        // The upstream saw the gateway's own token, not the client's (which it never learns).
        const call = setup.sent().findLast((m) => m.method === 'tools/call' && m.params?.name === 'trigger-long-running-operation');
        expect(call?.params?._meta?.progressToken).toBeDefined();
        expectCrossed();
      } finally {
        await client.close();
      }
    });

    test.each([false, true])('the client’s AbortSignal cancels the upstream request (crossing: %s)', async (crossing) => {
      const { client, connect, expectCrossed } = clientFor(setup, crossing);
      await connect();
      try {
        const abort = new AbortController();
        const progressed = deferred();
        const call = client
          .callTool({ name: 'trigger-long-running-operation', arguments: { duration: 60, steps: 60 } }, undefined, {
            signal: abort.signal,
            onprogress: () => progressed.resolve(),
          })
          .then(
            () => 'answered',
            (error: unknown) => String(error),
          );
        await progressed.promise; // running upstream
        const upstreamCall = setup.sent().findLast((m) => m.method === 'tools/call' && m.params?.arguments?.duration === 60);
        expect(upstreamCall?.id).toBeDefined();
        abort.abort('enough');
        expect(await call).toMatch(/enough|abort/i);
        const cancelled = await waitFor(
          () => setup.sent().find((m) => m.method === 'notifications/cancelled' && m.params?.requestId === upstreamCall!.id),
          { what: 'notifications/cancelled for the upstream request' },
        );
        expect(cancelled.params?.requestId).toBe(upstreamCall!.id);
        expectCrossed();
      } finally {
        await client.close();
      }
    });

    /** Makes server-everything register a session resource (it then sends resources/list_changed). */
    async function addResource(client: Client, file: string): Promise<string> {
      const data = `data:text/plain;base64,${Buffer.from('federated').toString('base64')}`;
      const made = await client.callTool({ name: 'gzip-file-as-resource', arguments: { name: file, data } });
      const link = (made.content as Array<{ type: string; uri?: string }>).find((c) => c.type === 'resource_link');
      expect(link?.uri).toBe(`demo://resource/session/${file}`);
      return link!.uri!;
    }

    /**
     * The lists are the worker's (its shared upstream session's): server-everything's session
     * resources show there when the calls go through that session too, `sessions: 'shared'`
     * (stdio's default; over HTTP a pair of gateways in that mode, for this test).
     */
    async function sharedSetup(fresh = false): Promise<{ setup: Setup; close(): Promise<void> }> {
      if (!upstreamProcess.url && !fresh) return { setup, close: async () => {} };
      const store = new MemoryStore();
      const { url, command, args } = upstreamProcess;
      const parts = [0, 1].map(() =>
        upstream(url ? { url, sessions: 'shared', timeoutMs: 10_000 } : { command: command!, args, timeoutMs: 10_000 }, quiet),
      );
      const shared = parts.map((part) => createCatalog({ ev: { ...part } }, { logger: quiet }));
      await Promise.all(parts.map((part) => (part.upstreams[0] as Upstream).ready()));
      const [a, b] = [await startGateway({ store, catalog: shared[0]! }), await startGateway({ store, catalog: shared[1]! })];
      return {
        setup: { a, b, sent: () => upstreamProcess.sent() },
        close: async () => {
          await b.close();
          await a.close();
          for (const catalog of shared) await catalog.close();
        },
      };
    }

    test('its resource-list change reaches the session as notifications/resources/list_changed (not tools/), and the new resource is listed and read', async () => {
      const shared = await sharedSetup();
      const { client, connect } = clientFor(shared.setup, false);
      await connect();
      try {
        const resourcesChanged = deferred();
        let toolsChanged = false;
        client.setNotificationHandler(ResourceListChangedNotificationSchema, () => resourcesChanged.resolve());
        client.setNotificationHandler(ToolListChangedNotificationSchema, () => void (toolsChanged = true));
        await client.listResources();
        await waitFor(() => shared.setup.a.router.worker.streams.inFlight > 0, { what: 'the GET stream' });
        const uri = await addResource(client, `note-${name.replace(/\W/g, '')}.gz`);
        await resourcesChanged.promise;
        // One coalesced fan-out sends tools/ before resources/ on the same stream: none came.
        expect(toolsChanged).toBe(false);
        expect((await client.listResources()).resources.map((r) => r.uri)).toContain(uri);
        const read = await client.readResource({ uri });
        expect((read.contents[0] as { blob?: string }).blob).toBeTruthy();
      } finally {
        await client.close();
        await shared.close();
      }
    });

    // Over stdio nothing says which call the upstream's request belongs to: the one in flight.
    // Over stdio on processes of its own: the cancellations above left the suite's processes with
    // calls that ended without their answer, after which no question is relayed there.
    test('sampling: trigger-sampling-request reaches the downstream client’s handler', async () => {
      const own = upstreamProcess.url ? { setup, close: async () => {} } : await sharedSetup(true);
      const { client, connect } = clientFor(own.setup, false, { sampling: {} });
      client.setRequestHandler(CreateMessageRequestSchema, async () => ({
        role: 'assistant',
        model: 'test-model',
        content: { type: 'text', text: 'sampled by the downstream client' },
      }));
      await connect();
      try {
        expect((await client.listTools()).tools.map((t) => t.name)).toContain('trigger-sampling-request');
        const result = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 5 } });
        expect(JSON.stringify(result.content)).toContain('sampled by the downstream client');
      } finally {
        await client.close();
        await own.close();
      }
    });

    test('subscriptions: the upstream’s resources/updated reaches the subscribed client', async () => {
      const { client, connect } = clientFor(setup, false);
      await connect();
      try {
        const uri = 'demo://resource/static/document/features.md';
        const updated = deferred<string>();
        client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updated.resolve(n.params.uri));
        await client.subscribeResource({ uri });
        await waitFor(() => setup.sent().some((m) => m.method === 'resources/subscribe'), {
          what: 'resources/subscribe sent upstream',
          timeoutMs: 2000,
        });
        await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
        expect(await updated.promise).toBe(uri);
        await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
      } finally {
        await client.close();
      }
    });
  });
}

suite('Streamable HTTP', async () => {
  const up: EverythingHttp = await startEverythingHttp();
  return { url: up.url, sent: () => up.sent, close: () => up.close() };
});

suite('stdio', async () => {
  const io: EverythingStdio = everythingStdio();
  return { command: io.command, args: io.args, sent: io.sent, close: async () => io.cleanup() };
});
