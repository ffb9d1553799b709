/**
 * Gateway processes acting as separate hosts (test/fixtures/gateway-host.mjs on RedisStore), each
 * bound to its own loopback address. The package must be built (`npm run build`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { freePort, ROOT } from './example-cluster';
import { initializeBody, rpc } from './gateway';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Host {
  url: string;
  workerId: string;
  internalUrl: string;
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export async function startHost(host: string, env: Record<string, string>): Promise<Host> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, 'test/fixtures/gateway-host.mjs')], {
    cwd: ROOT,
    env: { ...process.env, ...env, HOST: host, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c));
  child.stderr!.on('data', (c: Buffer) => (output += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  let match: RegExpMatchArray | null = null;
  while (!(match = output.match(/host (\S+) pid \d+ ready internal (\S+)/))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`host ${host} did not start:\n${output}`);
    await sleep(50);
  }
  return {
    url: `http://${host}:${port}`,
    workerId: match[1]!,
    internalUrl: match[2]!,
    process: child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Opens a session on a host's `/servers/<server>/mcp` and acknowledges it; returns its id. */
export async function open(host: Host, server: string): Promise<string> {
  const init = await rpc(`${host.url}/servers/${server}/mcp`, initializeBody());
  if (init.status !== 200) throw new Error(`initialize on ${host.url}: ${init.status} ${init.body}`);
  const id = String(init.headers['mcp-session-id']);
  await rpc(`${host.url}/servers/${server}/mcp`, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': id });
  return id;
}
