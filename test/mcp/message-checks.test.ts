/**
 * checkMessage picks the SDK's schema for the kind of message it is shown, instead of trying the
 * SDK's union of four: it must accept exactly what that union accepts.
 */
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { checkMessage } from '../../lib/mcp/message-checks';

const samples: unknown[] = [
  { jsonrpc: '2.0', id: 1, method: 'ping' },
  { jsonrpc: '2.0', id: 'a', method: 'tools/list', params: {} },
  { jsonrpc: '2.0', method: 'notifications/initialized' },
  { jsonrpc: '2.0', id: 1, result: {} },
  { jsonrpc: '2.0', id: 1, error: { code: -32000, message: 'x' } },
  { jsonrpc: '2.0', error: { code: -32700, message: 'parse' } },
  { jsonrpc: '2.0', id: null, method: 'ping' },
  { jsonrpc: '2.0', id: 1, method: 'ping', result: {} },
  { jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'x' } },
  { jsonrpc: '1.0', id: 1, method: 'ping' },
  { jsonrpc: '2.0', id: 1 },
  { jsonrpc: '2.0', method: 5 },
  { jsonrpc: '2.0', id: 1.5, method: 'ping' },
  { jsonrpc: '2.0', id: 1, error: { code: 1.5, message: 'x' } },
  { jsonrpc: '2.0', method: 'x', extra: true },
  {},
  null,
  5,
  'text',
  [],
];

test.each(samples.map((s) => [JSON.stringify(s), s]))('%s: accepted exactly when the SDK union accepts it', (_label, message) => {
  const union = JSONRPCMessageSchema.safeParse(message).success;
  const problem = checkMessage(message);
  // None of these has params its method's schema refuses: only the JSON-RPC shape decides.
  expect(problem?.rpcCode ?? 'accepted').toBe(union ? 'accepted' : -32600);
});
