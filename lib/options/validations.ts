/**
 * Option checks run once, when a middleware is created. A wrong option throws a message that names
 * the option, the value received and the fix; a doubtful but workable setup warns once through the
 * logger.
 */
import { ErrorCodes, McpAffinityError } from '../errors.js';
import type { Logger } from '../types.js';

/** Renders a received value for an error message without dumping secrets or huge objects. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof RegExp) return String(value);
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  return String(value);
}

export function invalidOption(owner: string, option: string, received: unknown, fix: string): McpAffinityError {
  return new McpAffinityError(ErrorCodes.INVALID_OPTION, `${owner}: option \`${option}\` received ${describeValue(received)}; ${fix}`);
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** Throws when `options` is not an object or holds a key the factory does not know. */
export function checkOptionsObject(owner: string, options: unknown, known: readonly string[]): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new McpAffinityError(
      ErrorCodes.INVALID_OPTION,
      `${owner}: expected an options object, received ${describeValue(options)}; pass { ${known.slice(0, 3).join(', ')}, ... }`,
    );
  }
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const nearest = [...known].sort((a, b) => distance(key, a) - distance(key, b))[0];
    const hint = nearest && distance(key, nearest) <= 3 ? ` did you mean \`${nearest}\`?` : '';
    throw new McpAffinityError(
      ErrorCodes.INVALID_OPTION,
      `${owner}: unknown option \`${key}\`; expected one of ${known.map((k) => `\`${k}\``).join(', ')}.${hint}`,
    );
  }
}

export function positiveInteger(owner: string, option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw invalidOption(owner, option, value, `expected a positive integer, such as ${fallback}.`);
  }
  return value;
}

export function requireObjectWith(owner: string, option: string, value: unknown, methods: readonly string[], fix: string): void {
  const missing =
    value === null || typeof value !== 'object'
      ? methods
      : methods.filter((m) => typeof (value as Record<string, unknown>)[m] !== 'function');
  if (missing.length > 0) {
    throw invalidOption(owner, option, value, `expected an object with ${missing.map((m) => `${m}()`).join(', ')}; ${fix}`);
  }
}

export function checkLogger(owner: string, logger: unknown): Logger {
  if (logger === undefined) return silentLogger;
  requireObjectWith(owner, 'logger', logger, ['info', 'warn', 'error'], 'pass console, a pino logger, or leave it unset.');
  return logger as Logger;
}

const noop = (): void => undefined;
export const silentLogger: Logger = { info: noop, warn: noop, error: noop, debug: noop };

const warned = new WeakMap<Logger, Set<string>>();
/** Warns once per logger and key. */
export function warnOnce(logger: Logger, key: string, message: string): void {
  let seen = warned.get(logger);
  if (!seen) warned.set(logger, (seen = new Set()));
  if (seen.has(key)) return;
  seen.add(key);
  logger.warn(`[express-mcp-affinity] ${message}`);
}
