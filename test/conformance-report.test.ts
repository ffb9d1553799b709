/** A failing conformance run is reported as its failing checks and their messages (a real saved result). */
import path from 'node:path';
import { failedChecks } from './helpers/conformance';

test('failed checks are read from the suite’s saved results, one line each with its message', () => {
  const lines = failedChecks(path.join(__dirname, 'fixtures/conformance-failed'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^tools-call-simple-text: Failed: Streamable HTTP error/);
});

test('no saved results: nothing to report', () => {
  expect(failedChecks(path.join(__dirname, 'fixtures/no-such-dir'))).toEqual([]);
});
