/**
 * An in-memory `Catalog`: virtual servers and their tools, resources and prompts.
 *
 * ```ts
 * const catalog = createCatalog({
 *   alpha: { tools: [{ name: 'echo', inputSchema: {...}, handler: ({ text }) => ... }] },
 * });
 * catalog.addTool('alpha', otherTool); // listeners registered with onChange() are told
 * ```
 */
import { ErrorCodes, McpAffinityError } from './errors.js';
import { changedKinds, LIST_KINDS } from './list-kinds.js';
import { describeValue } from './options/validations.js';
import { DEFAULT_SERVER_ID_PATTERN } from './server-id.js';
import type {
  CacheHints,
  Catalog,
  ListKind,
  Logger,
  McpScope,
  PromptDefinition,
  ResourceDefinition,
  ResourceTemplateDefinition,
  Scoped,
  ToolDefinition,
  UpstreamItems,
  UpstreamSource,
  VirtualServerDefinition,
} from './types.js';
import { mergeUpstreams } from './upstream/merge-upstreams.js';

const OWNER = 'createCatalog';

interface ServerEntry {
  /** Whether the items also appear on the unscoped view. */
  unscoped?: boolean;
  tools: Scoped<ToolDefinition>[];
  resources: Scoped<ResourceDefinition>[];
  resourceTemplates: Scoped<ResourceTemplateDefinition>[];
  prompts: Scoped<PromptDefinition>[];
}

type Kind = keyof ServerEntry;

function fail(message: string): never {
  throw new McpAffinityError(ErrorCodes.INVALID_OPTION, `${OWNER}: ${message}`);
}

function checkCacheHints(serverId: string, hints: CacheHints | undefined): CacheHints | undefined {
  if (hints === undefined) return undefined;
  const where = `servers.${serverId}.cacheHints`;
  if (typeof hints !== 'object' || hints === null) fail(`${where} received ${describeValue(hints)}; expected { ttlMs, cacheScope }.`);
  if (hints.ttlMs !== undefined && !(Number.isInteger(hints.ttlMs) && hints.ttlMs >= 0)) {
    fail(`${where}.ttlMs received ${describeValue(hints.ttlMs)}; expected a whole number of milliseconds, 0 or more.`);
  }
  if (hints.cacheScope !== undefined && hints.cacheScope !== 'public' && hints.cacheScope !== 'private') {
    fail(`${where}.cacheScope received ${describeValue(hints.cacheScope)}; expected 'public' or 'private'.`);
  }
  return Object.freeze({ ...hints });
}

function checkItem(serverId: string, kind: Kind, item: unknown): void {
  const where = `servers.${serverId}.${kind}`;
  if (typeof item !== 'object' || item === null) fail(`${where} received ${describeValue(item)}; expected an object.`);
  const i = item as Record<string, unknown>;
  const key = kind === 'resources' ? 'uri' : kind === 'resourceTemplates' ? 'uriTemplate' : 'name';
  if (typeof i[key] !== 'string' || (i[key] as string).length === 0)
    fail(`${where} item has \`${key}\` ${describeValue(i[key])}; expected a non-empty string.`);
  if (kind === 'tools') {
    if (typeof i.handler !== 'function')
      fail(
        `${where}.${String(i.name)}.handler received ${describeValue(i.handler)}; expected a function (args, context) => CallToolResult.`,
      );
    const schema = i.inputSchema as Record<string, unknown> | undefined;
    if (typeof schema !== 'object' || schema === null || schema.type !== 'object') {
      fail(
        `${where}.${String(i.name)}.inputSchema received ${describeValue(schema)}; expected a JSON Schema object such as { type: 'object', properties: {} }.`,
      );
    }
  }
  const fn = kind === 'tools' ? 'handler' : kind === 'prompts' ? 'get' : 'read';
  if (typeof i[fn] !== 'function') fail(`${where}.${String(i[key])}.${fn} received ${describeValue(i[fn])}; expected a function.`);
  if (i.complete !== undefined) {
    const complete = i.complete as Record<string, unknown>;
    if (
      typeof complete !== 'object' ||
      complete === null ||
      Array.isArray(complete) ||
      Object.values(complete).some((f) => typeof f !== 'function')
    )
      fail(
        `${where}.${String(i[key])}.complete received ${describeValue(i.complete)}; expected an object of functions by argument name, (value, { arguments }) => string[].`,
      );
  }
}

/** A `Catalog` held in memory, changeable at run time. */
export class MemoryCatalog implements Catalog {
  private readonly servers = new Map<string, ServerEntry>();
  private readonly hints = new Map<string, CacheHints>();
  /** Each server's own items, and what its upstreams offer now: `servers` holds both, merged. */
  private readonly locals = new Map<string, ServerEntry>();
  private readonly remote = new Map<string, Map<UpstreamSource, UpstreamItems>>();
  private readonly watching = new Map<string, Array<() => void>>();
  private readonly sources = new Set<UpstreamSource>();
  private readonly logger: Logger;
  private readonly listeners = new Set<(serverId: string, kinds: readonly ListKind[]) => void>();
  private readonly resourceListeners = new Set<(serverId: string, uri: string) => void>();
  /** The unscoped view, rebuilt only when something changes. */
  private all: ServerEntry | undefined;

  constructor(servers: Readonly<Record<string, VirtualServerDefinition>> = {}, options: { logger?: Logger } = {}) {
    this.logger = options.logger ?? { info: () => {}, warn: console.warn, error: console.error };
    if (typeof servers !== 'object' || servers === null || Array.isArray(servers)) {
      fail(`expected an object of virtual servers such as { alpha: { tools: [...] } }, received ${describeValue(servers)}.`);
    }
    for (const [serverId, definition] of Object.entries(servers)) this.setServer(serverId, definition);
  }

  /** Adds or replaces a virtual server. */
  setServer(serverId: string, definition: VirtualServerDefinition = {}): this {
    if (!DEFAULT_SERVER_ID_PATTERN.test(serverId)) {
      fail(`server id ${describeValue(serverId)} is not allowed; use 1 to 64 of [A-Za-z0-9_-], starting with a letter or digit.`);
    }
    if (definition.unscoped !== undefined && typeof definition.unscoped !== 'boolean') {
      fail(`servers.${serverId}.unscoped received ${describeValue(definition.unscoped)}; expected true or false.`);
    }
    const hints = checkCacheHints(serverId, definition.cacheHints);
    const entry: ServerEntry = { unscoped: definition.unscoped ?? true, tools: [], resources: [], resourceTemplates: [], prompts: [] };
    for (const kind of ['tools', 'resources', 'resourceTemplates', 'prompts'] as const) {
      const items = definition[kind] ?? [];
      if (!Array.isArray(items)) fail(`servers.${serverId}.${kind} received ${describeValue(items)}; expected an array.`);
      for (const item of items) {
        checkItem(serverId, kind, item);
        (entry[kind] as unknown[]).push(Object.freeze({ ...item, serverId }));
      }
    }
    const names = new Set<string>();
    for (const tool of entry.tools) {
      if (names.has(tool.name))
        fail(`servers.${serverId}.tools has two tools named ${JSON.stringify(tool.name)}; names must be unique within a server.`);
      names.add(tool.name);
    }
    const upstreams = definition.upstreams ?? [];
    if (!Array.isArray(upstreams) || !upstreams.every((u) => typeof u?.watch === 'function')) {
      fail(
        `servers.${serverId}.upstreams received ${describeValue(upstreams)}; expected what upstream({ url }) returns, spread into the server: { ...upstream({ url }) }.`,
      );
    }
    this.unwatch(serverId);
    this.locals.set(serverId, entry);
    this.remote.set(serverId, new Map());
    if (hints) this.hints.set(serverId, hints);
    else this.hints.delete(serverId);
    this.replace(serverId, mergeUpstreams(serverId, entry, this.remote.get(serverId)!, this.logger));
    // Each upstream's items join when it answers, and again whenever it says its lists changed.
    for (const source of upstreams) this.sources.add(source);
    const stops = upstreams.map((source) =>
      source.watch((items: UpstreamItems) => {
        const offered = this.remote.get(serverId);
        if (!offered || this.locals.get(serverId) !== entry) return;
        offered.set(source, items);
        this.replace(serverId, mergeUpstreams(serverId, entry, offered, this.logger));
      }),
    );
    this.watching.set(serverId, stops);
    return this;
  }

  /** Stops watching every upstream and closes their connections (stdio processes included). */
  async close(): Promise<void> {
    for (const serverId of [...this.watching.keys()]) this.unwatch(serverId);
    // Every upstream ever given, those that never answered (still being retried) included.
    const sources = [...this.sources];
    this.sources.clear();
    await Promise.all(sources.map((source) => source.close()));
  }

  private unwatch(serverId: string): void {
    for (const stop of this.watching.get(serverId) ?? []) stop();
    this.watching.delete(serverId);
  }

  /** Removes a virtual server; its sessions then see nothing. */
  deleteServer(serverId: string): this {
    this.unwatch(serverId);
    this.locals.delete(serverId);
    this.remote.delete(serverId);
    if (this.servers.has(serverId)) this.replace(serverId, undefined);
    return this;
  }

  /** Adds or replaces one tool of an existing server. */
  addTool(serverId: string, tool: ToolDefinition): this {
    const local = this.local(serverId);
    checkItem(serverId, 'tools', tool);
    local.tools = [...local.tools.filter((t) => t.name !== tool.name), Object.freeze({ ...tool, serverId })];
    this.replace(serverId, mergeUpstreams(serverId, local, this.remote.get(serverId)!, this.logger));
    return this;
  }

  /** Removes one tool. */
  removeTool(serverId: string, name: string): this {
    const local = this.local(serverId);
    local.tools = local.tools.filter((t) => t.name !== name);
    this.replace(serverId, mergeUpstreams(serverId, local, this.remote.get(serverId)!, this.logger));
    return this;
  }

  private local(serverId: string): ServerEntry {
    this.entry(serverId);
    return this.locals.get(serverId)!;
  }

  cacheHints(serverId: string): CacheHints | undefined {
    return this.hints.get(serverId);
  }

  hasServer(serverId: string): boolean {
    return this.servers.has(serverId);
  }

  serverIds(): string[] {
    return [...this.servers.keys()];
  }

  listTools(scope: McpScope): readonly Scoped<ToolDefinition>[] {
    return this.view(scope).tools;
  }

  listResources(scope: McpScope): readonly Scoped<ResourceDefinition>[] {
    return this.view(scope).resources;
  }

  listResourceTemplates(scope: McpScope): readonly Scoped<ResourceTemplateDefinition>[] {
    return this.view(scope).resourceTemplates;
  }

  listPrompts(scope: McpScope): readonly Scoped<PromptDefinition>[] {
    return this.view(scope).prompts;
  }

  onChange(listener: (serverId: string, kinds: readonly ListKind[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Tells the sessions subscribed to `uri` (`resources/subscribe`) on this server that its content
   * changed: they receive `notifications/resources/updated`.
   */
  resourceUpdated(serverId: string, uri: string): this {
    this.entry(serverId);
    for (const listener of this.resourceListeners) listener(serverId, uri);
    return this;
  }

  onResourceUpdated(listener: (serverId: string, uri: string) => void): () => void {
    this.resourceListeners.add(listener);
    return () => this.resourceListeners.delete(listener);
  }

  private entry(serverId: string): ServerEntry {
    const entry = this.servers.get(serverId);
    if (!entry) fail(`no virtual server ${JSON.stringify(serverId)}; create it with setServer() first.`);
    return entry;
  }

  private view(scope: McpScope): ServerEntry {
    if (scope.kind === 'server')
      return this.servers.get(scope.serverId) ?? { tools: [], resources: [], resourceTemplates: [], prompts: [] };
    if (!this.all) {
      const all: ServerEntry = { tools: [], resources: [], resourceTemplates: [], prompts: [] };
      for (const entry of this.servers.values()) {
        if (entry.unscoped === false) continue;
        all.tools.push(...entry.tools);
        all.resources.push(...entry.resources);
        all.resourceTemplates.push(...entry.resourceTemplates);
        all.prompts.push(...entry.prompts);
      }
      this.all = all;
    }
    return this.all;
  }

  /** Sets (or, undefined, removes) a server's merged items and tells listeners which lists changed. */
  private replace(serverId: string, entry: ServerEntry | undefined): void {
    const before = this.servers.get(serverId);
    // Joining or leaving the unscoped view changes every list an unscoped session sees.
    const kinds = before && entry && before.unscoped !== entry.unscoped ? LIST_KINDS : changedKinds(before, entry);
    if (entry) this.servers.set(serverId, entry);
    else this.servers.delete(serverId);
    this.all = undefined;
    if (kinds.length > 0) for (const listener of this.listeners) listener(serverId, kinds);
  }
}

/** Builds an in-memory catalog from `{ serverId: { tools, resources, resourceTemplates, prompts } }`. */
export function createCatalog(
  servers: Readonly<Record<string, VirtualServerDefinition>> = {},
  options: { logger?: Logger } = {},
): MemoryCatalog {
  return new MemoryCatalog(servers, options);
}
