/** `upstream()` options, checked once at creation: wrong ones throw, naming the option and the fix. */
import { UPSTREAM_OPTION_NAMES } from '../options/option-names.js';
import { checkOptionsObject, invalidOption } from '../options/validations.js';
import type { MetricsOptions, UpstreamOptions, UpstreamSpan } from '../types.js';

const OWNER = 'upstream';

export interface UpstreamConfig {
  readonly name: string;
  readonly transport:
    | { readonly kind: 'http'; readonly url: URL; readonly headers: Record<string, string> }
    | {
        readonly kind: 'stdio';
        readonly command: string;
        readonly args: readonly string[];
        readonly env: Record<string, string> | undefined;
        readonly cwd: string | undefined;
      };
  readonly prefix: string;
  readonly include: {
    readonly tools?: ReadonlySet<string>;
    readonly prompts?: ReadonlySet<string>;
    readonly resources?: ReadonlySet<string>;
  };
  readonly exclude: {
    readonly tools?: ReadonlySet<string>;
    readonly prompts?: ReadonlySet<string>;
    readonly resources?: ReadonlySet<string>;
  };
  readonly timeoutMs: number;
  readonly maxAnswerBytes: number;
  readonly breakerFailures: number;
  readonly breakerCooldownMs: number;
  readonly sessions: 'per-client' | 'shared';
  readonly forwardAuthorization: boolean;
  readonly onSpan: ((span: UpstreamSpan) => void) | undefined;
  readonly metrics: MetricsOptions | undefined;
}

const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

function nameLists(field: 'include' | 'exclude', value: UpstreamOptions['include']): UpstreamConfig['include'] {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null)
    throw invalidOption(OWNER, field, value, 'expected { tools?, prompts?, resources? }, each an array of names (URIs for resources).');
  const out: Record<string, ReadonlySet<string>> = {};
  for (const kind of ['tools', 'prompts', 'resources'] as const) {
    const list = value[kind];
    if (list === undefined) continue;
    if (!strings(list)) throw invalidOption(OWNER, `${field}.${kind}`, list, 'expected an array of strings.');
    out[kind] = new Set(list);
  }
  return out;
}

export function resolveUpstream(options: UpstreamOptions): UpstreamConfig {
  if (typeof options !== 'object' || options === null)
    throw invalidOption(OWNER, 'options', options, 'expected { url } or { command, args }.');
  checkOptionsObject(OWNER, options, UPSTREAM_OPTION_NAMES);
  if ((options.url === undefined) === (options.command === undefined)) {
    throw invalidOption(OWNER, 'url', options.url, 'give exactly one of url (Streamable HTTP) and command (stdio).');
  }
  let transport: UpstreamConfig['transport'];
  if (options.url !== undefined) {
    if (typeof options.url !== 'string' || !/^https?:\/\//.test(options.url) || !URL.canParse(options.url)) {
      throw invalidOption(
        OWNER,
        'url',
        options.url,
        "expected an http(s) URL of the upstream's MCP endpoint, such as 'http://127.0.0.1:3300/mcp'.",
      );
    }
    const headers = { ...(options.headers ?? {}) };
    if (options.bearerToken !== undefined) headers.authorization = `Bearer ${options.bearerToken}`;
    transport = { kind: 'http', url: new URL(options.url), headers };
  } else {
    if (typeof options.command !== 'string' || options.command === '')
      throw invalidOption(OWNER, 'command', options.command, 'expected the program to start.');
    if (options.args !== undefined && !strings(options.args))
      throw invalidOption(OWNER, 'args', options.args, 'expected an array of strings.');
    transport = { kind: 'stdio', command: options.command, args: [...(options.args ?? [])], env: options.env, cwd: options.cwd };
  }
  if (options.prefix !== undefined && (typeof options.prefix !== 'string' || !/^[A-Za-z0-9_.-]*$/.test(options.prefix))) {
    throw invalidOption(OWNER, 'prefix', options.prefix, 'expected letters, digits, _ . or -, such as "github_".');
  }
  const positive = (name: 'timeoutMs' | 'maxAnswerBytes' | 'breakerFailures' | 'breakerCooldownMs', fallback: number): number => {
    const value = options[name] ?? fallback;
    if (!Number.isInteger(value) || value <= 0) throw invalidOption(OWNER, name, options[name], 'expected a positive whole number.');
    return value;
  };
  const timeoutMs = positive('timeoutMs', 30_000);
  const sessions = options.sessions ?? (transport.kind === 'http' ? 'per-client' : 'shared');
  if (sessions !== 'per-client' && sessions !== 'shared')
    throw invalidOption(
      OWNER,
      'sessions',
      options.sessions,
      "expected 'per-client' (one upstream session per downstream session) or 'shared'.",
    );
  if (sessions === 'per-client' && transport.kind === 'stdio')
    throw invalidOption(
      OWNER,
      'sessions',
      options.sessions,
      "a stdio upstream is one process with one session: use 'shared' (the default for command).",
    );
  const forwardAuthorization = options.forwardAuthorization ?? false;
  if (typeof forwardAuthorization !== 'boolean')
    throw invalidOption(OWNER, 'forwardAuthorization', options.forwardAuthorization, 'expected true or false.');
  if (forwardAuthorization && transport.kind === 'stdio')
    throw invalidOption(OWNER, 'forwardAuthorization', true, 'a stdio upstream has no Authorization header: leave it out with command.');
  if (options.onSpan !== undefined && typeof options.onSpan !== 'function')
    throw invalidOption(OWNER, 'onSpan', options.onSpan, 'expected a function (span) => void.');
  return {
    name: options.name ?? (transport.kind === 'http' ? transport.url.origin + transport.url.pathname : transport.command),
    transport,
    prefix: options.prefix ?? '',
    include: nameLists('include', options.include),
    exclude: nameLists('exclude', options.exclude),
    timeoutMs,
    maxAnswerBytes: positive('maxAnswerBytes', 4 * 1024 * 1024),
    breakerFailures: positive('breakerFailures', 5),
    breakerCooldownMs: positive('breakerCooldownMs', 30_000),
    sessions,
    forwardAuthorization,
    onSpan: options.onSpan,
    metrics: options.metrics,
  };
}
