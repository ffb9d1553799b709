/**
 * trackConnections: a close that answers the request on a connection accepted just before it
 * (closeAllConnections() resets that one), closes kept-alive connections between requests at
 * once, and destroys what still holds on after the grace period.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { trackConnections } from '../../lib/http/graceful-close';
import { deferred, once } from '../helpers/wait';

const REQUEST = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';

function startServer(): Promise<http.Server> {
  const server = http.createServer((_req, res) => res.end('ok'));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Opens a raw connection and resolves once the server accepted it. */
async function accepted(server: http.Server): Promise<net.Socket> {
  const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(server, 'connection');
  return socket;
}

/** Everything the server sent on `socket` until it closed, and whether it was reset. */
function received(socket: net.Socket): Promise<{ text: string; reset: boolean }> {
  let text = '';
  let reset = false;
  socket.on('data', (chunk) => (text += chunk));
  socket.on('error', () => (reset = true));
  return new Promise((resolve) => socket.once('close', () => resolve({ text, reset })));
}

describe('trackConnections', () => {
  test('a request arriving on a connection accepted before the close is answered, with Connection: close', async () => {
    const server = await startServer();
    const connections = trackConnections(server);
    const socket = await accepted(server);
    const answer = received(socket);
    const closed = connections.close();
    await new Promise((resolve) => setImmediate(resolve)); // the listener is closed now
    expect(server.listening).toBe(false);
    socket.write(REQUEST);
    const { text, reset } = await answer;
    expect(reset).toBe(false);
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    expect(text.toLowerCase()).toContain('connection: close');
    expect(text.endsWith('ok')).toBe(true);
    await closed;
  });

  test('control: close() with closeAllConnections() (the internal listener before) drops that request unanswered', async () => {
    const server = await startServer();
    const socket = await accepted(server);
    const answer = received(socket);
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    socket.write(REQUEST);
    const { text } = await answer;
    expect(text).toBe('');
    await closed;
  });

  test('a kept-alive connection between requests is closed at once; close() resolves when all are', async () => {
    const server = await startServer();
    const connections = trackConnections(server);
    const socket = await accepted(server);
    const firstAnswer = deferred();
    let text = '';
    socket.on('data', (chunk) => ((text += chunk), text.endsWith('ok') && firstAnswer.resolve()));
    const socketClosed = once(socket, 'close');
    socket.write(REQUEST);
    await firstAnswer.promise;
    await connections.close();
    await socketClosed;
    expect(text.toLowerCase()).not.toContain('connection: close');
  });

  test('a request being answered finishes before its connection closes', async () => {
    const started = deferred();
    const release = deferred();
    const server = http.createServer(async (_req, res) => {
      started.resolve();
      await release.promise;
      res.end('late');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const connections = trackConnections(server);
    const socket = await accepted(server);
    const answer = received(socket);
    socket.write(REQUEST);
    await started.promise;
    const closed = connections.close();
    release.resolve();
    const { text, reset } = await answer;
    expect(reset).toBe(false);
    expect(text.endsWith('late')).toBe(true);
    await closed;
  });

  test('a connection that sends nothing is destroyed after the grace period', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    try {
      const server = await startServer();
      const connections = trackConnections(server);
      const socket = await accepted(server);
      const answer = received(socket);
      let resolved = false;
      const closed = connections.close(2_000).then(() => (resolved = true));
      await new Promise((resolve) => setImmediate(resolve));
      jest.advanceTimersByTime(1_999);
      await new Promise((resolve) => setImmediate(resolve));
      expect(resolved).toBe(false);
      jest.advanceTimersByTime(1);
      await closed;
      expect((await answer).text).toBe('');
    } finally {
      jest.useRealTimers();
    }
  });

  test('close() on a server with nothing open, twice, and on one already closed', async () => {
    const server = await startServer();
    const connections = trackConnections(server);
    await Promise.all([connections.close(), connections.close()]);
    expect(server.listening).toBe(false);
    const other = await startServer();
    const tracked = trackConnections(other);
    await new Promise((resolve) => other.close(resolve));
    await tracked.close();
  });
});
