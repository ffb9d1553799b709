/**
 * The API reference stays in step with the types: every option of every public options
 * interface must be documented in docs/api.md, and every document the README links must exist.
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** `interface XOptions { name?: ...; }` → the top-level property names of each options interface. */
function optionsOf(source: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const match of source.matchAll(/export interface (\w+Options)\b[^{]*\{([\s\S]*?)\n\}/g)) {
    const names = [...match[2]!.matchAll(/^ {2}(?:readonly )?(\w+)\??:/gm)].map((m) => m[1]!);
    found.set(match[1]!, names);
  }
  return found;
}

const sources = ['lib/types.ts', 'lib/stores/redis-types.ts', 'lib/stores/cluster-store.ts', 'lib/stores/event-stores.ts'];

test.each(sources)('every option declared in %s is documented in docs/api.md', (file) => {
  const api = read('docs/api.md');
  const interfaces = optionsOf(read(file));
  expect(interfaces.size).toBeGreaterThan(0);
  const missing: string[] = [];
  for (const [name, options] of interfaces) {
    for (const option of options) if (!api.includes(`\`${option}\``)) missing.push(`${name}.${option}`);
  }
  expect(missing).toEqual([]);
});

test('every local link in README.md and docs/ points to a file that exists', () => {
  const files = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).map((f) => `docs/${f}`)];
  const broken: string[] = [];
  for (const file of files.filter((f) => f.endsWith('.md'))) {
    for (const [, target] of read(file).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      if (!fs.existsSync(path.join(ROOT, path.dirname(file), target!))) broken.push(`${file} → ${target}`);
    }
  }
  expect(broken).toEqual([]);
});

test('the option scan sees the interfaces it checks (so the test above can fail)', () => {
  const options = optionsOf(read('lib/types.ts'));
  expect(options.get('AffinityWorkerOptions')).toEqual(expect.arrayContaining(['secret', 'store', 'internal', 'metrics', 'routeHeader']));
  expect(options.get('ServerScopeOptions')).toEqual(['catalog', 'serverIdPattern']);
  expect(optionsOf(read('lib/stores/redis-types.ts')).get('RedisStoreOptions')).toContain('serveStaleOnError');
});
