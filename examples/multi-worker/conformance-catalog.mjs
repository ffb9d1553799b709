// The `conformance` virtual server: what the official MCP conformance suite
// (@modelcontextprotocol/conformance, server mode) expects to find, served at
// /servers/conformance/mcp. It stays off the unscoped /mcp endpoint (`unscoped: false`), so /mcp
// still lists alpha's and beta's tools only.
//
//   npx conformance server --url http://127.0.0.1:3000/servers/conformance/mcp

export const CONFORMANCE_SERVER_ID = 'conformance';

/** A 1x1 red PNG. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

/** A valid WAV file: 8 kHz, mono, 8-bit PCM, 8 samples of silence. */
const WAV = (() => {
  const samples = 8;
  const wav = Buffer.alloc(44 + samples, 0x80);
  wav.write('RIFF', 0, 'ascii');
  wav.writeUInt32LE(36 + samples, 4);
  wav.write('WAVE', 8, 'ascii');
  wav.write('fmt ', 12, 'ascii');
  wav.writeUInt32LE(16, 16); // fmt chunk size
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(8000, 24); // sample rate
  wav.writeUInt32LE(8000, 28); // byte rate
  wav.writeUInt16LE(1, 32); // block align
  wav.writeUInt16LE(8, 34); // bits per sample
  wav.write('data', 36, 'ascii');
  wav.writeUInt32LE(samples, 40);
  return wav.toString('base64');
})();

const NO_ARGS = { type: 'object', properties: {} };
const text = (value) => ({ type: 'text', text: value });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Cities offered by `completion/complete` for test_prompt_with_arguments' arg1. */
const CITIES = ['paris', 'park', 'party', 'prague', 'porto', 'tokyo', 'toronto', 'test'];

/**
 * The conformance server's definition. `catalog` is the catalog it is added to: the
 * `update_watched_resource` tool uses it to tell subscribed sessions that
 * test://watched-resource changed.
 */
export function conformanceServer(catalog) {
  let watchedVersion = 0;
  return {
    unscoped: false,
    tools: [
      {
        name: 'test_simple_text',
        description: 'Returns a simple text response.',
        inputSchema: NO_ARGS,
        handler: () => ({ content: [text('This is a simple text response for testing.')] }),
      },
      {
        name: 'test_image_content',
        description: 'Returns a 1x1 PNG image.',
        inputSchema: NO_ARGS,
        handler: () => ({ content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] }),
      },
      {
        name: 'test_audio_content',
        description: 'Returns a short WAV audio clip.',
        inputSchema: NO_ARGS,
        handler: () => ({ content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] }),
      },
      {
        name: 'test_embedded_resource',
        description: 'Returns an embedded text resource.',
        inputSchema: NO_ARGS,
        handler: () => ({
          content: [
            {
              type: 'resource',
              resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' },
            },
          ],
        }),
      },
      {
        name: 'test_multiple_content_types',
        description: 'Returns text, an image and an embedded resource.',
        inputSchema: NO_ARGS,
        handler: () => ({
          content: [
            text('Multiple content types test:'),
            { type: 'image', data: PNG, mimeType: 'image/png' },
            {
              type: 'resource',
              resource: {
                uri: 'test://mixed-content-resource',
                mimeType: 'application/json',
                text: JSON.stringify({ test: 'data', value: 123 }),
              },
            },
          ],
        }),
      },
      {
        name: 'test_tool_with_logging',
        description: 'Sends three log notifications while it runs.',
        inputSchema: NO_ARGS,
        handler: async (_args, ctx) => {
          await ctx.log('info', 'Tool execution started');
          await sleep(50);
          await ctx.log('info', 'Tool processing data');
          await sleep(50);
          await ctx.log('info', 'Tool execution completed');
          return { content: [text('Tool with logging executed successfully')] };
        },
      },
      {
        name: 'test_error_handling',
        description: 'Always fails: the gateway reports the error as an isError result.',
        inputSchema: NO_ARGS,
        handler: () => {
          throw new Error('This tool intentionally returns an error for testing');
        },
      },
      {
        name: 'test_tool_with_progress',
        description: 'Reports progress 0, 50 and 100 out of 100.',
        inputSchema: NO_ARGS,
        handler: async (_args, ctx) => {
          await ctx.sendProgress(0, 100);
          await sleep(50);
          await ctx.sendProgress(50, 100);
          await sleep(50);
          await ctx.sendProgress(100, 100);
          return { content: [text('Tool with progress executed successfully')] };
        },
      },
      {
        name: 'test_sampling',
        description: "Asks the client's LLM to answer a prompt (sampling/createMessage).",
        inputSchema: {
          type: 'object',
          properties: { prompt: { type: 'string', description: 'The prompt to send to the LLM' } },
          required: ['prompt'],
        },
        handler: async ({ prompt }, ctx) => {
          const result = await ctx.createMessage({
            messages: [{ role: 'user', content: { type: 'text', text: prompt } }],
            maxTokens: 100,
          });
          const answer = result.content.type === 'text' ? result.content.text : JSON.stringify(result.content);
          return { content: [text(`LLM response: ${answer}`)] };
        },
      },
      {
        name: 'test_elicitation',
        description: 'Asks the user for a username and an email (elicitation/create).',
        inputSchema: {
          type: 'object',
          properties: { message: { type: 'string', description: 'The message to show the user' } },
          required: ['message'],
        },
        handler: async ({ message }, ctx) => {
          const result = await ctx.elicitInput({
            message,
            requestedSchema: {
              type: 'object',
              properties: {
                username: { type: 'string', description: "User's response" },
                email: { type: 'string', description: "User's email address" },
              },
              required: ['username', 'email'],
            },
          });
          return { content: [text(`User response: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`)] };
        },
      },
      {
        name: 'test_elicitation_sep1034_defaults',
        description: 'Elicitation whose schema has a default for every primitive type (SEP-1034).',
        inputSchema: NO_ARGS,
        handler: async (_args, ctx) => {
          const result = await ctx.elicitInput({
            message: 'Please review and update the form fields with defaults',
            requestedSchema: {
              type: 'object',
              properties: {
                name: { type: 'string', description: 'User name', default: 'John Doe' },
                age: { type: 'integer', description: 'User age', default: 30 },
                score: { type: 'number', description: 'User score', default: 95.5 },
                status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
                verified: { type: 'boolean', description: 'Verification status', default: true },
              },
              required: [],
            },
          });
          return {
            content: [text(`Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`)],
          };
        },
      },
      {
        name: 'test_elicitation_sep1330_enums',
        description: 'Elicitation with the five enum variants (SEP-1330).',
        inputSchema: NO_ARGS,
        handler: async (_args, ctx) => {
          const result = await ctx.elicitInput({
            message: 'Please select options from the enum fields',
            requestedSchema: {
              type: 'object',
              properties: {
                untitledSingle: { type: 'string', description: 'Untitled single-select', enum: ['option1', 'option2', 'option3'] },
                titledSingle: {
                  type: 'string',
                  description: 'Titled single-select',
                  oneOf: [
                    { const: 'value1', title: 'First Option' },
                    { const: 'value2', title: 'Second Option' },
                    { const: 'value3', title: 'Third Option' },
                  ],
                },
                legacyEnum: {
                  type: 'string',
                  description: 'Legacy titled enum',
                  enum: ['opt1', 'opt2', 'opt3'],
                  enumNames: ['Option One', 'Option Two', 'Option Three'],
                },
                untitledMulti: {
                  type: 'array',
                  description: 'Untitled multi-select',
                  items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
                },
                titledMulti: {
                  type: 'array',
                  description: 'Titled multi-select',
                  items: {
                    anyOf: [
                      { const: 'value1', title: 'First Choice' },
                      { const: 'value2', title: 'Second Choice' },
                      { const: 'value3', title: 'Third Choice' },
                    ],
                  },
                },
              },
              required: [],
            },
          });
          return {
            content: [text(`Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`)],
          };
        },
      },
      {
        name: 'json_schema_2020_12_tool',
        description: 'Tool with JSON Schema 2020-12 features',
        inputSchema: {
          $schema: 'https://json-schema.org/draft/2020-12/schema',
          type: 'object',
          $defs: {
            address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } },
          },
          properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
          additionalProperties: false,
        },
        handler: (args) => ({ content: [text(`JSON Schema 2020-12 tool called with ${JSON.stringify(args)}`)] }),
      },
      {
        name: 'test_reconnection',
        description: 'Answers on its POST stream (SSE polling scenario, SEP-1699).',
        inputSchema: NO_ARGS,
        handler: async () => {
          await sleep(100);
          return { content: [text('Reconnection test completed')] };
        },
      },
      {
        name: 'update_watched_resource',
        description: 'Changes test://watched-resource and notifies its subscribers on this worker.',
        inputSchema: NO_ARGS,
        handler: () => {
          watchedVersion++;
          catalog?.resourceUpdated(CONFORMANCE_SERVER_ID, 'test://watched-resource');
          return { content: [text(`test://watched-resource is now at version ${watchedVersion}`)] };
        },
      },
    ],
    resources: [
      {
        uri: 'test://static-text',
        name: 'Static Text Resource',
        description: 'A static text resource for testing',
        mimeType: 'text/plain',
        read: () => ({
          contents: [{ uri: 'test://static-text', mimeType: 'text/plain', text: 'This is the content of the static text resource.' }],
        }),
      },
      {
        uri: 'test://static-binary',
        name: 'Static Binary Resource',
        description: 'A static binary resource (image) for testing',
        mimeType: 'image/png',
        read: () => ({ contents: [{ uri: 'test://static-binary', mimeType: 'image/png', blob: PNG }] }),
      },
      {
        uri: 'test://watched-resource',
        name: 'Watched Resource',
        description: 'A resource to subscribe to; update_watched_resource changes it',
        mimeType: 'text/plain',
        read: () => ({
          contents: [{ uri: 'test://watched-resource', mimeType: 'text/plain', text: `Watched resource, version ${watchedVersion}` }],
        }),
      },
    ],
    resourceTemplates: [
      {
        uriTemplate: 'test://template/{id}/data',
        name: 'Resource Template',
        description: 'A resource template with parameter substitution',
        mimeType: 'application/json',
        read: (uri, { id }) => ({
          contents: [
            {
              uri,
              mimeType: 'application/json',
              text: JSON.stringify({ id: String(id), templateTest: true, data: `Data for ID: ${String(id)}` }),
            },
          ],
        }),
        complete: { id: (value) => ['1', '2', '3', '123'].filter((id) => id.startsWith(value)) },
      },
    ],
    prompts: [
      {
        name: 'test_simple_prompt',
        description: 'A simple prompt without arguments',
        get: () => ({ messages: [{ role: 'user', content: text('This is a simple prompt for testing.') }] }),
      },
      {
        name: 'test_prompt_with_arguments',
        description: 'A prompt with required arguments',
        arguments: [
          { name: 'arg1', description: 'First test argument', required: true },
          { name: 'arg2', description: 'Second test argument', required: true },
        ],
        get: ({ arg1, arg2 }) => ({
          messages: [{ role: 'user', content: text(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`) }],
        }),
        complete: { arg1: (value) => CITIES.filter((city) => city.startsWith(value.toLowerCase())) },
      },
      {
        name: 'test_prompt_with_embedded_resource',
        description: 'A prompt that includes an embedded resource',
        arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
        get: ({ resourceUri }) => ({
          messages: [
            {
              role: 'user',
              content: {
                type: 'resource',
                resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' },
              },
            },
            { role: 'user', content: text('Please process the embedded resource above.') },
          ],
        }),
      },
      {
        name: 'test_prompt_with_image',
        description: 'A prompt that includes image content',
        get: () => ({
          messages: [
            { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
            { role: 'user', content: text('Please analyze the image above.') },
          ],
        }),
      },
    ],
  };
}

/** Adds the conformance server to `catalog` (a MemoryCatalog); returns the catalog. */
export function addConformanceServer(catalog) {
  return catalog.setServer(CONFORMANCE_SERVER_ID, conformanceServer(catalog));
}
