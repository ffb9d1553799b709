/** Reading the official conformance suite's saved results (`conformance server -o <dir>`). */
import fs from 'node:fs';
import path from 'node:path';

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
