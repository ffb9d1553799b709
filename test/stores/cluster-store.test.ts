/**
 * The embedded cluster store in a real node:cluster: registration, the pushed worker table, an
 * atomic claim raced by two workers, a worker's death, and a duplicate worker id.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/example-cluster';

test('ClusterStore across real worker processes', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, 'test/fixtures/cluster-store-probe.mjs')], {
    cwd: ROOT,
    timeout: 20_000,
  });
  const results = JSON.parse(stdout.trim().split('\n').pop()!);

  expect(results.claims).toHaveLength(2);
  for (const claim of results.claims) {
    expect(claim.seesPeers).toBe(true);
    expect(claim.own).toBe(true);
  }
  expect(results.claims.filter((c: { won: boolean }) => c.won)).toHaveLength(1);
  expect(results.sessionsBeforeExit).toBe(3);

  const [first, second] = ['first', 'second'].map((role) => results.claims.find((c: { role: string }) => c.role === role));
  expect(results.afterExit.deadStillRoutable).toBe(false);
  // The dead worker's session stays, for another worker to adopt (session continuity).
  expect(results.afterExit.deadSession).toMatchObject({ workerId: second.workerId });
  expect(results.afterExit.ownSession).toMatchObject({ sessionId: `${first.workerId}.own`, workerId: first.workerId, scope: '*' });
  expect(results.afterExit.workersAfterExit).toEqual([first.workerId]);
  expect(results.afterExit.sessionsAfterExit).toBe(3);

  // An event one worker published reached the other through the primary.
  expect(results.afterExit.heard).toEqual([{ type: 'catalog-changed', serverId: 'alpha', origin: second.workerId }]);
  expect(results.duplicate.refused).toMatch(/refused worker id .*another live worker/);
});

test('ClusterStore honours the SessionStore contract, inside a real cluster worker', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, 'test/fixtures/cluster-store-contract.mjs')], {
    cwd: ROOT,
    timeout: 20_000,
  });
  const results: Array<{ name: string; ok: boolean; error?: string; sameProcessDuplicate: boolean }> = JSON.parse(
    stdout.trim().split('\n').pop()!,
  );
  expect(results.length).toBeGreaterThanOrEqual(5);
  // Every case holds, except the one a single process cannot set up: a second live worker with the
  // same id is a second process, refused by the primary (the test above).
  for (const result of results) {
    if (result.sameProcessDuplicate) expect(result.ok).toBe(false);
    else expect(result).toEqual({ name: result.name, ok: true, sameProcessDuplicate: false });
  }
});
