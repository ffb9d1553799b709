import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

// Kept as a re-export for the callers that import it from here; the helper lives in ./ports.
import { freePort } from './ports';

export { freePort };

export const ROOT = path.resolve(__dirname, '../..');

export interface ExampleCluster {
  readonly url: string;
  readonly port: number;
  readonly primary: ChildProcess;
  /** workerId → pid of the workers announced so far (replacements included). */
  readonly workers: Map<string, number>;
  /** Everything the cluster printed. */
  output(): string;
  /** Resolves once the cluster's output matches `pattern`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves once `count` workers in total have announced themselves. */
  waitForWorkers(count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts `examples/multi-worker` (built package required: `npm run build`) as a real cluster on
 * `host` (any 127.x.y.z address acts as a separate host), with extra environment variables.
 */
export async function startExampleCluster(
  workers: number,
  options: { host?: string; env?: Record<string, string> } = {},
): Promise<ExampleCluster> {
  const port = await freePort();
  const host = options.host ?? '127.0.0.1';
  const primary = spawn(process.execPath, [path.join(ROOT, 'examples/multi-worker/server.mjs')], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), WORKERS: String(workers), HOST: host, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const announced = new Map<string, number>();
  const waiters: Array<() => void> = [];
  const onData = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    for (const match of output.matchAll(/worker (\S+) pid (\d+) ready/g)) announced.set(match[1]!, Number(match[2]));
    for (const wake of waiters.splice(0)) wake();
  };
  primary.stdout!.on('data', onData);
  primary.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => primary.once('exit', () => resolve()));

  const cluster: ExampleCluster = {
    url: `http://${host}:${port}`,
    port,
    primary,
    workers: announced,
    output: () => output,
    waitForOutput(pattern, timeoutMs = 15_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the cluster never printed ${pattern}; output:\n${output}`)), timeoutMs);
        const check = (): void => {
          if (pattern.test(output)) return void (clearTimeout(timer), resolve());
          waiters.push(check);
        };
        check();
      });
    },
    waitForWorkers(count, timeoutMs = 15_000) {
      // Woken by the cluster's output (a worker announcing itself) or by the primary's exit.
      return new Promise<void>((resolve, reject) => {
        let settled = false;
        const finish = (error?: Error): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (error) reject(error);
          else resolve();
        };
        const failed = () => new Error(`cluster did not start ${count} workers; output:\n${output}`);
        const timer = setTimeout(() => finish(failed()), timeoutMs);
        const check = (): void => {
          if (settled) return;
          if (announced.size >= count) return finish();
          if (primary.exitCode !== null || primary.signalCode !== null) return finish(failed());
          waiters.push(check);
        };
        void exited.then(check);
        check();
      });
    },
    async stop() {
      if (primary.exitCode === null && primary.signalCode === null) primary.kill('SIGTERM');
      const timer = setTimeout(() => primary.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  await cluster.waitForWorkers(workers);
  return cluster;
}
