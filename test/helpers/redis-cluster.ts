/**
 * A real Redis Cluster for tests: 3 masters and 3 replicas, each a `redis-server` on a free port
 * keeping nothing on disk (its cluster config in a temporary directory), joined with
 * `redis-cli --cluster create`. `close()` kills every node and removes the directory.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Cluster, type ClusterOptions } from 'ioredis';
import { freePort } from './ports';
import { waitFor } from './wait';

const exec = promisify(execFile);

export interface ClusterNode {
  readonly port: number;
  readonly process: ChildProcess;
}

export interface TestRedisCluster {
  readonly nodes: readonly ClusterNode[];
  /** `host:port,host:port,…` of every node, as REDIS_CLUSTER_NODES. */
  readonly nodeList: string;
  /** A new ioredis Cluster client; the test closes it. */
  client(options?: ClusterOptions): Cluster;
  /** `redis-cli -p <port> <args>` of one node, its output. */
  cli(port: number, ...args: string[]): Promise<string>;
  /** The port of the master serving `slot` now, as CLUSTER NODES on a live node says. */
  masterOf(slot: number): Promise<number>;
  /**
   * Resolves once every replica of the master on `port` has all it had written so far (its
   * replication offset reached). `WAIT` would not do: it waits only for its own client's writes.
   */
  waitReplicated(port: number): Promise<void>;
  /** Kills one node (SIGKILL) and resolves once it exited. */
  kill(port: number): Promise<void>;
  /** Resolves once every live node says cluster_state:ok and sees every slot served by a live master. */
  waitHealthy(what?: string): Promise<void>;
  close(): Promise<void>;
}

/** Whether every node answers CLUSTER INFO with cluster_state:ok. */
async function allOk(cli: TestRedisCluster['cli'], ports: number[]): Promise<boolean> {
  const infos = await Promise.all(ports.map((p) => cli(p, 'cluster', 'info').catch(() => '')));
  return infos.every((info) => /cluster_state:ok/.test(info));
}

interface NodeLine {
  port: number;
  master: boolean;
  failed: boolean;
  slots: Array<[number, number]>;
}

/** CLUSTER NODES lines: `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot>…`. */
function parseNodes(text: string): NodeLine[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [, address, flags, , , , , , ...slots] = line.split(' ');
      return {
        port: Number(address!.split('@')[0]!.split(':')[1]),
        master: flags!.includes('master'),
        failed: /fail/.test(flags!),
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => {
            const [from, to] = s.split('-').map(Number);
            return [from!, to ?? from!] as [number, number];
          }),
      };
    });
}

export async function startRedisCluster(size = { masters: 3, replicas: 1 }): Promise<TestRedisCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'redis-cluster-'));
  const nodes: ClusterNode[] = [];
  const count = size.masters * (1 + size.replicas);
  const cli = async (port: number, ...args: string[]): Promise<string> =>
    (await exec('redis-cli', ['-p', String(port), ...args], { timeout: 5000 })).stdout;
  const live = (): number[] => nodes.filter((n) => n.process.exitCode === null && n.process.signalCode === null).map((n) => n.port);
  const close = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => kill(n.port)));
    rmSync(dir, { recursive: true, force: true });
  };
  const kill = async (port: number): Promise<void> => {
    const node = nodes.find((n) => n.port === port)!;
    if (node.process.exitCode !== null || node.process.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => node.process.once('exit', () => resolve()));
    node.process.kill('SIGKILL');
    await exited;
  };
  try {
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
      args.push('--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${port}.conf`), '--dir', dir);
      // A short node timeout: a killed master's replica is promoted within a couple of seconds.
      args.push('--cluster-node-timeout', '1000');
      nodes.push({ port, process: spawn('redis-server', args, { stdio: 'ignore' }) });
    }
    const ports = nodes.map((n) => n.port);
    await waitFor(async () => (await Promise.all(ports.map((p) => cli(p, 'ping').catch(() => '')))).every((s) => s.startsWith('PONG')), {
      intervalMs: 50,
      what: 'every cluster node answering PING',
    });
    await exec(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(size.replicas), '--cluster-yes'],
      { timeout: 30_000 },
    );
    await waitFor(() => allOk(cli, ports), { timeoutMs: 20_000, intervalMs: 100, what: 'cluster_state:ok on every node' });
  } catch (error) {
    await close();
    throw error;
  }
  const masterOf = async (slot: number): Promise<number> => {
    const lines = parseNodes(await cli(live()[0]!, 'cluster', 'nodes'));
    const owner = lines.find((l) => l.master && !l.failed && l.slots.some(([from, to]) => slot >= from && slot <= to));
    if (!owner) throw new Error(`no live master serves slot ${slot}`);
    return owner.port;
  };
  return {
    nodes,
    nodeList: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
    client: (options = {}) =>
      new Cluster(
        nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
        { ...options, redisOptions: { maxRetriesPerRequest: 1, ...options.redisOptions } },
      ),
    cli,
    masterOf,
    kill,
    async waitReplicated(port) {
      const offset = (info: string, pattern: RegExp) => [...info.matchAll(pattern)].map((m) => Number(m[1]));
      const written = offset(await cli(port, 'info', 'replication'), /^master_repl_offset:(\d+)/gm)[0] ?? 0;
      await waitFor(
        async () => {
          const replicas = offset(await cli(port, 'info', 'replication'), /^slave\d+:.*offset=(\d+)/gm);
          return replicas.length > 0 && replicas.every((o) => o >= written);
        },
        { timeoutMs: 30_000, intervalMs: 20, what: `the replicas of ${port} at offset ${written}` },
      );
    },
    async waitHealthy(what = 'the cluster healthy again') {
      await waitFor(
        async () => {
          const ports = live();
          if (!(await allOk(cli, ports))) return false;
          // In every live node's view, every slot is served by a live master not flagged failing.
          const views = await Promise.all(ports.map(async (p) => parseNodes(await cli(p, 'cluster', 'nodes').catch(() => ''))));
          return views.every((lines) => {
            const serving = lines.filter((l) => l.master && !l.failed && ports.includes(l.port));
            return serving.reduce((n, l) => n + l.slots.reduce((m, [a, b]) => m + b - a + 1, 0), 0) === 16384;
          });
        },
        { timeoutMs: 30_000, intervalMs: 100, what },
      );
    },
    close,
  };
}
