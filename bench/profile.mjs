// npm run build && node bench/profile.mjs: where a request's CPU time goes.
//
// Three phases, each on fresh processes run with --cpu-prof, each under tools/list load at
// BENCH_PROFILE_CONNECTIONS (default 32) for BENCH_SECONDS (default 5):
//   bare      row 1's server
//   local     row 2: the owner serves its own session (profile of the owner)
//   forwarded row 3: the non-owner receives and forwards (profile of the receiver, and of the owner)
// Prints, per profile, CPU microseconds per request by area (MCP SDK, Express, node:http, this
// package, GC) and the top self-time functions. BENCH_PROFILE_KEEP=1 keeps the .cpuprofile files.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOOLS } from './catalog.mjs';
import { checkToolsList, load, openSession, startNode, stopAll, stopChild, summarizeProfile } from './harness.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_PROFILE_CONNECTIONS ?? 32);
const TOP = Number(process.env.BENCH_PROFILE_TOP ?? 20);
const KEEP = process.env.BENCH_PROFILE_KEEP === '1';
const names = TOOLS.map((t) => t.name);
const dirs = [];

function profileOf(dir, pid) {
  const file = readdirSync(dir).find((f) => f.includes(`.${pid}.`) && f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile for pid ${pid} in ${dir}`);
  return JSON.parse(readFileSync(join(dir, file), 'utf8'));
}

function report(title, profile, requests) {
  const s = summarizeProfile(profile);
  const us = (ms) => ((ms * 1000) / requests).toFixed(1).padStart(7);
  const lines = [`\n## ${title}: ${requests} requests, ${s.busyMs.toFixed(0)} ms busy, ${us(s.busyMs).trim()} µs CPU per request`];
  lines.push('\n| area | µs/request | share |\n|---|---:|---:|');
  for (const a of s.byArea.slice(0, 12)) lines.push(`| ${a.area} | ${us(a.ms)} | ${(a.share * 100).toFixed(1)}% |`);
  lines.push('\n| charged to the nearest package frame on the stack | µs/request | share |\n|---|---:|---:|');
  for (const a of s.byOwner.slice(0, 12)) lines.push(`| ${a.area} | ${us(a.ms)} | ${(a.share * 100).toFixed(1)}% |`);
  lines.push(`\n| top self-time function | µs/request | share |\n|---|---:|---:|`);
  for (const f of s.byFunction.slice(0, TOP)) lines.push(`| \`${f.name}\` | ${us(f.ms)} | ${(f.share * 100).toFixed(1)}% |`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main() {
  const prof = () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-affinity-prof-'));
    dirs.push(dir);
    return dir;
  };
  process.stdout.write(`# CPU profiles, tools/list at ${CONNECTIONS} connections for ${SECONDS} s each\n`);

  // Bare Express.
  {
    const dir = prof();
    const bare = await startNode('bare-server.mjs', {}, { execArgv: ['--cpu-prof', '--cpu-prof-dir', dir] });
    await checkToolsList(bare.port, undefined, names);
    const warm = await load({ port: bare.port, connections: CONNECTIONS, seconds: 1 });
    const r = await load({ port: bare.port, connections: CONNECTIONS, seconds: SECONDS });
    process.stderr.write(`bare: ${r.rps.toFixed(0)} req/s under the profiler\n`);
    await stopChild(bare.child);
    report('row 1, bare Express (includes 1 s warm-up)', profileOf(dir, bare.child.pid), warm.requests + r.requests);
  }
  // Local and forwarded, each on a fresh cluster so that each profile holds one kind of work.
  for (const phase of ['local', 'forwarded']) {
    const dir = prof();
    const cluster = await startNode('cluster-gateway.mjs', { JSON_RESPONSE: '1', CPU_PROF_DIR: dir });
    const [owner, other] = cluster.workers;
    const session = await openSession(owner.port);
    const port = phase === 'local' ? owner.port : other.port;
    await checkToolsList(port, session, names);
    const warm = await load({ port, sessionId: session, connections: CONNECTIONS, seconds: 1 });
    const r = await load({ port, sessionId: session, connections: CONNECTIONS, seconds: SECONDS });
    process.stderr.write(`${phase}: ${r.rps.toFixed(0)} req/s under the profiler\n`);
    await stopChild(cluster.child);
    const total = warm.requests + r.requests;
    if (phase === 'local') report('row 2, local: the owner (includes 1 s warm-up)', profileOf(dir, owner.pid), total);
    else {
      report('row 3, forwarded: the receiving worker (includes 1 s warm-up)', profileOf(dir, other.pid), total);
      report('row 3, forwarded: the owner serving the hop (includes 1 s warm-up)', profileOf(dir, owner.pid), total);
    }
  }
}

main()
  .catch((error) => {
    process.exitCode = 1;
    process.stderr.write(`profile failed: ${error?.stack ?? error}\n`);
  })
  .finally(async () => {
    await stopAll();
    if (KEEP) process.stderr.write(`profiles kept in ${dirs.join(', ')}\n`);
    else for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    process.exit(process.exitCode ?? 0);
  });
