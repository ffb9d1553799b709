// Memory per idle session, heap after a full GC: the gateway's worker with sessions awake, the
// same sessions hibernated (only their store record remains, in the cluster primary), and the
// SDK's own one-process server, the thing users would pick instead. One run, one table. Each
// process is warmed first (MEMORY_WARMUP sessions before the baseline), so that the code the JIT
// compiles under load is not counted as memory per session.
//
//   MEMORY_SESSIONS=2000 npm run build && node bench/memory.mjs
import http from 'node:http';
import { ask, openSession, startNode, stopAll } from './harness.mjs';

const SESSIONS = Number(process.env.MEMORY_SESSIONS ?? 2000);
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

async function openMany(port, count) {
  for (let i = 0; i < count; i += 16) {
    await Promise.all(Array.from({ length: Math.min(16, count - i) }, () => openSession(port, { agent })));
  }
}

/** Sessions opened (and hibernated) before the baseline: the code the JIT compiles for them is not memory per session. */
const WARMUP = Number(process.env.MEMORY_WARMUP ?? 200);

/** Bytes per session from the heap before and after opening `SESSIONS` sessions, on a warm process. */
async function measure(name, { child, port }, after) {
  await openMany(port, WARMUP);
  if (after) await ask(child, after);
  const before = await ask(child, 'heap');
  await openMany(port, SESSIONS);
  const opened = await ask(child, 'heap');
  const rows = [{ name: `${name}, awake`, bytes: (opened.heapUsed - before.heapUsed) / SESSIONS, counts: opened }];
  if (after) {
    await ask(child, after);
    const slept = await ask(child, 'heap');
    rows.push({ name: `${name}, hibernated`, bytes: (slept.heapUsed - before.heapUsed) / SESSIONS, counts: slept });
  }
  return rows;
}

async function main() {
  const rows = [];
  try {
    const gateway = await startNode('memory-gateway.mjs');
    rows.push(...(await measure('express-mcp-affinity worker', gateway, 'hibernate')));
    const sdk = await startNode(
      'sdk-server.mjs',
      { MEMORY_PROBE: '1', JSON_RESPONSE: '1' },
      { execArgv: [...process.execArgv, '--expose-gc'] },
    );
    rows.push(...(await measure("the SDK's one-process server", sdk)));
  } finally {
    agent.destroy();
    await stopAll();
  }
  console.log(`\nheap after GC per idle session, ${SESSIONS} sessions (Node ${process.version})\n`);
  console.log('| server | KiB per session | awake / hibernated |');
  console.log('|---|---:|---|');
  for (const r of rows) {
    console.log(`| ${r.name} | ${(r.bytes / 1024).toFixed(2)} | ${r.counts.awake ?? '-'} / ${r.counts.hibernated ?? '-'} |`);
  }
  const hibernated = rows.find((r) => r.name.endsWith('hibernated'));
  if (hibernated)
    console.log(
      `\n${hibernated.bytes <= 1024 ? 'MET   ' : 'MISSED'}  hibernated session in the worker: ${(hibernated.bytes / 1024).toFixed(2)} KiB (target ≤ 1 KiB)`,
    );
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
