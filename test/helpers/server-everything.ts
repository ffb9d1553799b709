/**
 * `@modelcontextprotocol/server-everything` (a devDependency) as a real upstream: over Streamable
 * HTTP (its own process on a free loopback port, behind a recording proxy that keeps every
 * JSON-RPC message the gateway sent it), or the command and arguments for stdio (through
 * test/fixtures/stdio-tee.mjs, which records every line the gateway wrote to it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './example-cluster';
import { freePort } from './ports';
import { waitForOutput } from './wait';

export const EVERYTHING_BIN = path.join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

export interface RecordedMessage {
  method?: string;
  id?: string | number;
  params?: Record<string, any>;
}

export interface EverythingHttp {
  /** The proxy's URL: what the gateway is given. */
  readonly url: string;
  /** Every JSON-RPC message POSTed to it, in order. */
  readonly sent: RecordedMessage[];
  close(): Promise<void>;
}

/** Starts server-everything over Streamable HTTP on a free port, behind a recording proxy. */
export async function startEverythingHttp(): Promise<EverythingHttp> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [EVERYTHING_BIN, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdout!.resume();
  await waitForOutput([child.stderr!], /listening on port/, { timeoutMs: 15_000 });
  child.stderr!.resume();
  const sent: RecordedMessage[] = [];
  const proxy = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method === 'POST') {
        try {
          const parsed = JSON.parse(body.toString('utf8'));
          sent.push(...(Array.isArray(parsed) ? parsed : [parsed]));
        } catch {
          // not JSON: forwarded as it is
        }
      }
      const out = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.flushHeaders();
        answer.pipe(res);
      });
      out.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
      res.on('close', () => out.destroy());
      out.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/mcp`,
    sent,
    async close() {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface EverythingStdio {
  readonly command: string;
  readonly args: string[];
  /** Every JSON-RPC message written to the process so far (read from the tee's log). */
  sent(): RecordedMessage[];
  /** Removes the log. */
  cleanup(): void;
}

/** The command that runs server-everything over stdio through the recording tee. */
export function everythingStdio(): EverythingStdio {
  const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'everything-stdio-')), 'sent.jsonl');
  return {
    command: process.execPath,
    args: [path.join(ROOT, 'test/fixtures/stdio-tee.mjs'), log, process.execPath, EVERYTHING_BIN, 'stdio'],
    sent: () =>
      fs.existsSync(log)
        ? fs
            .readFileSync(log, 'utf8')
            .split('\n')
            .filter((line) => line.trim() !== '')
            .map((line) => JSON.parse(line) as RecordedMessage)
        : [],
    cleanup: () => fs.rmSync(path.dirname(log), { recursive: true, force: true }),
  };
}
