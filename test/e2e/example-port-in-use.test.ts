/**
 * The example never reports "ready" on a port it could not bind: it exits non-zero with the reason.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { ROOT } from '../helpers/example-cluster';

test('a port already in use: the example exits 1 and says why, and no worker says ready', async () => {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const { port } = holder.address() as net.AddressInfo;
  try {
    const child = spawn(process.execPath, [path.join(ROOT, 'examples/multi-worker/server.mjs')], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), WORKERS: '2', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c));
    child.stderr.on('data', (c: Buffer) => (output += c));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(output).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
    expect(output).not.toMatch(/ ready on /);
  } finally {
    await new Promise<void>((resolve) => holder.close(() => resolve()));
  }
});
