/**
 * Gateway processes acting as separate hosts (test/fixtures/gateway-host.mjs on RedisStore), each
 * bound to its own loopback address. The package must be built (`npm run build`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './example-cluster';
import { initializeBody, rpc } from './gateway';
import { isAddrInUse, withFreePort } from './ports';
import { waitForOutput } from './wait';

export interface Host {
  url: string;
  workerId: string;
  internalUrl: string;
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export function startHost(host: string, env: Record<string, string>): Promise<Host> {
  // A port taken between the probe and the child's listen makes the child exit: start again elsewhere.
  return withFreePort((port) => startHostOn(host, port, env));
}

async function startHostOn(host: string, port: number, env: Record<string, string>): Promise<Host> {
  const child = spawn(process.execPath, [path.join(ROOT, 'test/fixtures/gateway-host.mjs')], {
    cwd: ROOT,
    env: { ...process.env, ...env, HOST: host, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c));
  child.stderr!.on('data', (c: Buffer) => (output += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Ready is announced on stdout; an exit before that is a failed start (EADDRINUSE retried by the caller).
  const match = await Promise.race([
    waitForOutput([child.stdout!, child.stderr!], /host (\S+) pid \d+ ready internal (\S+)/, { timeoutMs: 10_000, output: () => output }),
    exited.then(() => {
      throw new Error(`host ${host} did not start:\n${output}`);
    }),
  ]).catch(async (error: unknown) => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    throw isAddrInUse(output) ? new Error(`EADDRINUSE: ${output}`) : error;
  });
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
