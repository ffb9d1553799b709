/**
 * examples/multi-worker for a 2026-07-28 client: the example's conformance tools that sample and
 * elicit complete through multi round-trip requests, driven by the real `@modelcontextprotocol/client`
 * 2.x over new connections (so rounds land on either worker).
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { newConnectionFetch } from '../../lib/index';
import { type ExampleCluster, startExampleCluster } from '../helpers/example-cluster';

describe('examples/multi-worker, 2026-07-28 client', () => {
  let cluster: ExampleCluster;
  beforeAll(async () => {
    cluster = await startExampleCluster(2);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test('test_sampling and test_elicitation answer through input_required and retries', async () => {
    const client = new Client(
      { name: 'v2', version: '1' },
      { capabilities: { elicitation: {}, sampling: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    client.setRequestHandler('sampling/createMessage', async () => ({
      role: 'assistant',
      model: 'm',
      content: { type: 'text', text: 'forty-two' },
    }));
    client.setRequestHandler('elicitation/create', async () => ({
      action: 'accept',
      content: { username: 'ada', email: 'ada@example.com' },
    }));
    await client.connect(
      new StreamableHTTPClientTransport(new URL('/servers/conformance/mcp', cluster.url), { fetch: newConnectionFetch() }),
    );
    try {
      const sampled = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'What is six times seven?' } });
      expect((sampled.content as Array<{ text: string }>)[0]!.text).toBe('LLM response: forty-two');
      const elicited = await client.callTool({ name: 'test_elicitation', arguments: { message: 'Who are you?' } });
      expect((elicited.content as Array<{ text: string }>)[0]!.text).toBe(
        'User response: action=accept, content={"username":"ada","email":"ada@example.com"}',
      );
    } finally {
      await client.close();
    }
  });
});
