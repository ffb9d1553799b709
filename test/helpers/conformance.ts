/** Running the official conformance suite (`conformance server`) and reading its saved results. */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs, { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './example-cluster';

const SUITE_TIMEOUT_MS = 120_000;
const SUITE_DIR = path.join(ROOT, 'node_modules/@modelcontextprotocol/conformance');
const SUITE_BIN = (() => {
  const { bin } = JSON.parse(readFileSync(path.join(SUITE_DIR, 'package.json'), 'utf8'));
  return path.join(SUITE_DIR, typeof bin === 'string' ? bin : bin.conformance);
})();

/** Every check the suite saved as failed (`-o`), as `scenario: message` lines. */
export function failedChecks(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const lines: string[] = [];
  for (const entry of fs.readdirSync(dir)) {
    const file = path.join(dir, entry, 'checks.json');
    if (!fs.existsSync(file)) continue;
    for (const check of JSON.parse(fs.readFileSync(file, 'utf8')) as Array<{ id: string; status: string; errorMessage?: string }>) {
      if (check.status === 'FAILURE') lines.push(`${check.id}: ${check.errorMessage ?? 'failed'}`);
    }
  }
  return lines;
}

export interface SuiteRun {
  passed: number;
  failed: number;
  /** `✓ scenario: n passed, m failed` lines. */
  scenarios: string[];
  exitCode: number;
  output: string;
  /** `scenario: message` of each failed check. */
  failures: string[];
}

/** Runs every server scenario of the suite (`--suite all`) against `url` and parses its summary. */
export function runSuite(url: string): Promise<SuiteRun> {
  const resultsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'conformance-'));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SUITE_BIN, 'server', '--suite', 'all', '--url', url, '-o', resultsDir],
      { cwd: ROOT, timeout: SUITE_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const output = `${stdout}\n${stderr}`;
        const failures = failedChecks(resultsDir);
        fs.rmSync(resultsDir, { recursive: true, force: true });
        const total = /^Total: (\d+) passed, (\d+) failed/m.exec(stdout);
        resolve({
          passed: total ? Number(total[1]) : 0,
          failed: total ? Number(total[2]) : Number.NaN,
          scenarios: stdout.split('\n').filter((line) => /^[✓✗] \S+: \d+ passed, \d+ failed/.test(line)),
          exitCode: error ? ((error as { code?: number }).code ?? 1) : 0,
          output,
          failures,
        });
      },
    );
  });
}

/** One response the front relayed (test/fixtures/conformance-front.mjs). */
export interface FrontStat {
  method: string;
  hasSession: boolean;
  status: number;
  receivedBy: string | null;
  servedBy: string | null;
  forwarded: boolean;
}

export interface Front {
  readonly url: string;
  /** Worker ids: A owns every session, B receives every session request. */
  readonly a: string;
  readonly b: string;
  stats(): Promise<FrontStat[]>;
  stop(): Promise<void>;
}

/**
 * Starts test/fixtures/conformance-front.mjs (two workers, every session request crossing from
 * B to A), with extra environment variables (MCP_UPSTREAMS). Built package required.
 */
export async function startFront(env: Record<string, string> = {}): Promise<Front> {
  const front: ChildProcess = spawn(process.execPath, [path.join(ROOT, 'test/fixtures/conformance-front.mjs')], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => front.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (front.exitCode === null && front.signalCode === null) front.kill('SIGTERM');
    const timer = setTimeout(() => front.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const ready = await new Promise<{ url: string; a: string; b: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`front did not start:\n${output}`)), 15_000);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString('utf8');
        const line = output.split('\n').find((l) => l.startsWith('{'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line));
        }
      };
      front.stdout!.on('data', onData);
      front.stderr!.on('data', onData);
      front.once('exit', (code) => reject(new Error(`front exited (${code}):\n${output}`)));
    });
    return {
      ...ready,
      stats: async () => (await (await fetch(`${ready.url}/__front/stats`)).json()) as FrontStat[],
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
