/**
 * Misconfiguration throws when a middleware is created, with McpAffinityError
 * ERR_MCP_AFFINITY_INVALID_OPTION and a message naming the option, the value received and a fix.
 * The options object the user passed is never mutated: each is deep-frozen before it is passed
 * (so a write would throw a TypeError instead of the expected error) and compared with a clone
 * taken beforehand.
 */
import {
  type AffinityWorker,
  createAffinityWorker,
  createCatalog,
  internalForwardGuard,
  McpAffinityError,
  type McpAffinityRouter,
  mcpAffinity,
  rpcDispatch,
  serverScope,
  sessionAffinity,
  type ToolDefinition,
} from '../lib/index';
import { SECRET, testCatalog } from './helpers/gateway';

const INVALID_OPTION = 'ERR_MCP_AFFINITY_INVALID_OPTION';

const isPlain = (value: unknown): value is Record<string, unknown> | unknown[] =>
  Array.isArray(value) || (typeof value === 'object' && value !== null && [Object.prototype, null].includes(Object.getPrototypeOf(value)));

/** Freezes plain objects and arrays all the way down (class instances such as a catalog are left alone). */
function deepFreeze<T>(value: T): T {
  if (isPlain(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  } else if (value instanceof RegExp) {
    Object.freeze(value);
  }
  return value;
}

/**
 * structuredClone, except that what it cannot clone (functions, class instances like a catalog or
 * a worker) is kept by reference, so toStrictEqual compares those by identity.
 */
function snapshot<T>(value: T): T {
  if (isPlain(value)) {
    if (Array.isArray(value)) return value.map(snapshot) as T;
    const copy: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) copy[key] = snapshot(child);
    return copy as T;
  }
  if (value instanceof RegExp) return structuredClone(value);
  if (typeof value === 'object' && value !== null) return value;
  if (typeof value === 'function') return value;
  return structuredClone(value);
}

/** Calls create(options) with deep-frozen options; returns the McpAffinityError it must throw. */
function creationError<O>(create: (options: O) => unknown, options: O): McpAffinityError {
  const frozen = deepFreeze(options);
  const before = snapshot(frozen);
  let thrown: unknown;
  let created: unknown;
  try {
    created = create(frozen);
  } catch (error) {
    thrown = error;
  }
  closeLater(created);
  expect(frozen).toStrictEqual(before);
  expect(thrown).toBeInstanceOf(McpAffinityError);
  const error = thrown as McpAffinityError;
  expect(error.code).toBe(INVALID_OPTION);
  expect(error.name).toBe('McpAffinityError');
  return error;
}

// Anything created by mistake (a check that did not throw) is closed after the test.
const toClose: Array<{ close(): Promise<void> }> = [];
function closeLater(value: unknown): void {
  if (typeof value === 'object' && value !== null && typeof (value as { close?: unknown }).close === 'function') {
    toClose.push(value as { close(): Promise<void> });
  } else if (typeof value === 'function' && typeof (value as { close?: unknown }).close === 'function') {
    // An Express router is a function with a close() method.
    toClose.push(value as unknown as { close(): Promise<void> });
  }
}

afterEach(async () => {
  await Promise.allSettled(toClose.splice(0).map((c) => c.close()));
});

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('mcpAffinity', () => {
  const catalog = testCatalog();

  test('without secret', () => {
    const error = creationError(mcpAffinity, { catalog } as never);
    expect(error.message).toContain('`secret`');
    expect(error.message).toContain('received undefined');
    expect(error.message).toMatch(/at least 32 characters/);
    expect(error.message).toMatch(/randomBytes/);
  });

  test('with a short secret: the message names the option and the fix, but does not echo the secret', () => {
    const short = 'hunter2-but-too-short';
    const error = creationError(mcpAffinity, { catalog, secret: short });
    expect(error.message).toContain('`secret`');
    expect(error.message).toMatch(/at least 32 characters/);
    // An error message ends up in logs: the rejected secret must not be in it.
    expect(error.message).not.toContain(short);
  });

  test('with a secret list containing a short one', () => {
    const error = creationError(mcpAffinity, { catalog, secret: [SECRET, 'short'] });
    expect(error.message).toContain('`secret`');
    expect(error.message).toContain('an array of 2');
  });

  test('with an unknown option `secrte`: suggests `secret`', () => {
    const error = creationError(mcpAffinity, { catalog, secrte: SECRET } as never);
    expect(error.message).toContain('mcpAffinity');
    expect(error.message).toContain('unknown option `secrte`');
    expect(error.message).toContain('did you mean `secret`?');
  });

  test('with options that are not an object', () => {
    for (const options of [undefined, null, 'secret', [SECRET]]) {
      const error = creationError(mcpAffinity, options as never);
      expect(error.message).toMatch(/^mcpAffinity: expected an options object, received /);
    }
  });

  test.each([-1, 0, 1.5, '1000', Number.NaN, Infinity])('bodyLimit %p', (bodyLimit) => {
    const error = creationError(mcpAffinity, { catalog, secret: SECRET, bodyLimit } as never);
    expect(error.message).toContain('`bodyLimit`');
    expect(error.message).toContain(`received ${typeof bodyLimit === 'string' ? JSON.stringify(bodyLimit) : String(bodyLimit)}`);
    expect(error.message).toMatch(/expected a positive integer, such as 1048576/);
  });

  test.each([
    ['a string', '^[a-z]+$', '"^[a-z]+$"'],
    ['unanchored', /[a-z]+/, '/[a-z]+/'],
    ['anchored at the start only', /^[a-z]+/, '/^[a-z]+/'],
    ['anchored at the end only', /[a-z]+$/, '/[a-z]+$/'],
    ['global', /^[a-z]+$/g, '/^[a-z]+$/g'],
    ['sticky', /^[a-z]+$/y, '/^[a-z]+$/y'],
  ])('serverIdPattern %s', (_label, serverIdPattern, shown) => {
    const error = creationError(mcpAffinity, { catalog, secret: SECRET, serverIdPattern } as never);
    expect(error.message).toContain('`serverIdPattern`');
    expect(error.message).toContain(`received ${shown}`);
    expect(error.message).toMatch(/anchored with \^ and \$/);
  });

  test('serverIdPattern whose top-level alternation leaves each branch half-anchored (/^alpha|beta$/)', () => {
    // Starts with ^ and ends with $, yet matches "alpha/../x" and "x/../beta": not anchored.
    expect(/^alpha|beta$/.test('alpha/../x')).toBe(true);
    const error = creationError(mcpAffinity, { catalog, secret: SECRET, serverIdPattern: /^alpha|beta$/ });
    expect(error.message).toContain('`serverIdPattern`');
  });

  test.each([
    ['an empty object', {}, 'registerWorker(), deregisterWorker(), getWorker(), claimSession(), getSession(), releaseSession()'],
    [
      'missing releaseSession',
      { registerWorker() {}, deregisterWorker() {}, getWorker() {}, claimSession() {}, getSession() {} },
      'releaseSession()',
    ],
    ['a string', 'redis://localhost', 'registerWorker()'],
  ])('store %s', (_label, store, missing) => {
    const error = creationError(mcpAffinity, { catalog, secret: SECRET, store } as never);
    expect(error.message).toContain('`store`');
    expect(error.message).toContain(`expected an object with ${missing}`);
    expect(error.message).toMatch(/MemoryStore/);
  });

  test('logger without warn', () => {
    const error = creationError(mcpAffinity, {
      catalog,
      secret: SECRET,
      logger: { info: () => undefined, error: () => undefined },
    } as never);
    expect(error.message).toContain('`logger`');
    expect(error.message).toContain('received an object (Object)');
    expect(error.message).toContain('warn()');
    expect(error.message).not.toContain('info()');
    expect(error.message).toMatch(/pass console/);
  });

  test.each(['w1.2', '', 'a'.repeat(65), 'w 1', 42])('workerId %p', (workerId) => {
    const error = creationError(mcpAffinity, { catalog, secret: SECRET, workerId } as never);
    expect(error.message).toContain('`workerId`');
    expect(error.message).toMatch(/\[A-Za-z0-9_-\]/);
  });

  test.each([
    [{ port: 70000 }, '`internal.port` received 70000', /0 picks a free port/],
    [{ port: -1 }, '`internal.port` received -1', /0 picks a free port/],
    [{ port: 1.5 }, '`internal.port` received 1.5', /0 picks a free port/],
    [{ host: '0.0.0.0', port: 0 }, '`internal.advertisedHost` received undefined', /set it whenever host is 0\.0\.0\.0/],
    [{ socketPath: '' }, '`internal.socketPath` received ""', /file path/],
    ['127.0.0.1:0', '`internal` received "127.0.0.1:0"', /leave it unset for 127\.0\.0\.1 on a free port/],
  ])('internal %p', (internal, shown, fix) => {
    const error = creationError(mcpAffinity, { catalog, secret: SECRET, internal } as never);
    expect(error.message).toContain(shown);
    expect(error.message).toMatch(fix);
  });

  test('internal { port: 70000 }: the message says which port was refused', () => {
    const error = creationError(mcpAffinity, { catalog, secret: SECRET, internal: { port: 70000 } });
    expect(error.message).toContain('70000');
  });

  test('catalog missing or not a catalog', () => {
    for (const bad of [undefined, {}, { hasServer: () => true }]) {
      const error = creationError(mcpAffinity, { secret: SECRET, catalog: bad } as never);
      expect(error.message).toContain('`catalog`');
      expect(error.message).toMatch(/createCatalog\(\)/);
    }
  });

  test.each([
    ['maxClockSkewMs', 0],
    ['forwardTimeoutMs', -5],
    ['exposeWorkerHeaders', 'yes'],
    ['jsonResponse', 1],
    ['instructions', 42],
    ['serverInfo', { name: 'x' }],
  ])('%s %p', (option, value) => {
    const error = creationError(mcpAffinity, { catalog, secret: SECRET, [option]: value } as never);
    expect(error.message).toContain(`\`${option}\``);
    expect(error.message).toContain('received ');
  });

  test('valid options create a router without mutating them (control)', async () => {
    const options = deepFreeze({
      catalog,
      secret: [SECRET, `${SECRET}-old`],
      bodyLimit: 4096,
      serverIdPattern: /^[a-z]{1,16}$/,
      internal: { host: '127.0.0.1', port: 0 },
      serverInfo: { name: 'gw', version: '2.0.0' },
      logger: silent,
      workerId: 'w_test-1',
    });
    const before = snapshot(options);
    const router: McpAffinityRouter = mcpAffinity(options);
    closeLater(router);
    expect(router.worker.workerId).toBe('w_test-1');
    expect(options).toStrictEqual(before);
    await router.close();
  });
});

describe('individual factories', () => {
  let worker: AffinityWorker;

  beforeEach(() => {
    worker = createAffinityWorker({ secret: SECRET });
  });

  afterEach(async () => {
    await worker.close();
  });

  test.each([
    ['sessionAffinity', sessionAffinity],
    ['internalForwardGuard', internalForwardGuard],
    ['rpcDispatch', (o: object) => rpcDispatch({ catalog: testCatalog(), ...o } as never)],
  ] as const)('%s without worker', (owner, factory) => {
    for (const options of [{}, { worker: undefined }, { worker: { workerId: 'w1', secrets: [SECRET] } }]) {
      const error = creationError(factory as (o: object) => unknown, options);
      expect(error.message).toContain(`${owner}: option \`worker\` received`);
      expect(error.message).toMatch(/createAffinityWorker\(\{ secret \}\)/);
    }
  });

  test('sessionAffinity with an unknown option', () => {
    const error = creationError(sessionAffinity, { worker, bodylimit: 10 } as never);
    expect(error.message).toContain('did you mean `bodyLimit`?');
  });

  test('serverScope without catalog, or with an unanchored pattern', () => {
    expect(creationError(serverScope, {} as never).message).toContain('serverScope: option `catalog` received undefined');
    expect(creationError(serverScope, { catalog: testCatalog(), serverIdPattern: /alpha/ }).message).toContain(
      'serverScope: option `serverIdPattern` received /alpha/',
    );
  });

  test('createAffinityWorker: the same checks, and a valid call does not mutate its options', async () => {
    expect(creationError(createAffinityWorker, { secret: SECRET, workerId: 'a.b' }).message).toContain(
      'createAffinityWorker: option `workerId` received "a.b"',
    );
    const options = deepFreeze({ secret: SECRET, internal: { port: 0 }, logger: silent });
    const before = snapshot(options);
    const other = createAffinityWorker(options);
    closeLater(other);
    expect(options).toStrictEqual(before);
    await other.close();
  });
});

describe('createCatalog', () => {
  const handler: ToolDefinition['handler'] = () => ({ content: [] });
  const schema = { type: 'object' as const, properties: {} };

  test('a tool without a handler', () => {
    const error = creationError(createCatalog, { alpha: { tools: [{ name: 'echo', inputSchema: schema }] } } as never);
    expect(error.message).toContain('createCatalog: servers.alpha.tools.echo.handler received undefined');
    expect(error.message).toMatch(/expected a function/);
  });

  test('a tool without an inputSchema, or with one that is not an object schema', () => {
    for (const inputSchema of [undefined, { type: 'string' }, 'object']) {
      const error = creationError(createCatalog, { alpha: { tools: [{ name: 'echo', handler, inputSchema }] } } as never);
      expect(error.message).toContain('servers.alpha.tools.echo.inputSchema received');
      expect(error.message).toMatch(/expected a JSON Schema object such as \{ type: 'object', properties: \{\} \}/);
    }
  });

  test('a tool without a name', () => {
    const error = creationError(createCatalog, { alpha: { tools: [{ inputSchema: schema, handler }] } } as never);
    expect(error.message).toContain('servers.alpha.tools item has `name` undefined; expected a non-empty string');
  });

  test('two tools with the same name in one server', () => {
    const tool = { name: 'echo', inputSchema: schema, handler };
    const error = creationError(createCatalog, { alpha: { tools: [tool, { ...tool }] } });
    expect(error.message).toContain('servers.alpha.tools has two tools named "echo"');
    expect(error.message).toMatch(/unique within a server/);
  });

  test('the same tool name on two servers is fine', () => {
    const tool = { name: 'echo', inputSchema: schema, handler };
    const options = deepFreeze({ alpha: { tools: [tool] }, beta: { tools: [{ ...tool }] } });
    const before = snapshot(options);
    const catalog = createCatalog(options);
    expect(catalog.serverIds()).toEqual(['alpha', 'beta']);
    expect(options).toStrictEqual(before);
  });

  test.each(['a.b', 'a/b', '-x', '', 'al pha', 'a'.repeat(65), '..'])('server id %p', (id) => {
    const error = creationError(createCatalog, { [id]: {} });
    expect(error.message).toContain(
      `server id ${id.length > 40 ? `a string of ${id.length} characters` : JSON.stringify(id)} is not allowed`,
    );
    expect(error.message).toMatch(/1 to 64 of \[A-Za-z0-9_-\]/);
  });

  test('resources, templates and prompts without their function', () => {
    expect(creationError(createCatalog, { alpha: { resources: [{ uri: 'memo://x', name: 'x' }] } } as never).message).toContain(
      'servers.alpha.resources.memo://x.read received undefined',
    );
    expect(
      creationError(createCatalog, { alpha: { resourceTemplates: [{ uriTemplate: 'memo://{id}', name: 'x' }] } } as never).message,
    ).toContain('servers.alpha.resourceTemplates.memo://{id}.read received undefined');
    expect(creationError(createCatalog, { alpha: { prompts: [{ name: 'p', get: 'nope' }] } } as never).message).toContain(
      'servers.alpha.prompts.p.get received "nope"',
    );
    expect(creationError(createCatalog, { alpha: { tools: {} } } as never).message).toContain(
      'servers.alpha.tools received an object (Object); expected an array',
    );
  });
});
