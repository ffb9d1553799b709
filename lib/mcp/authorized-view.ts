/**
 * What one principal may see of a scope: the catalog's items filtered by the `authorize` policy,
 * as a catalog the method handlers read like the real one. A hidden item is absent from lists,
 * and a call to it gets the same error as an unknown item, so it never runs. An item is allowed
 * when its virtual server is and it is; each decision is asked once per request.
 */
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { AuthorizePolicy, AuthorizeRequest, Catalog, McpScope } from '../types.js';

export type ItemKind = Exclude<AuthorizeRequest['kind'], 'server'>;
type Kind = ItemKind;

type Item = { readonly serverId: string; readonly name?: string; readonly uri?: string; readonly uriTemplate?: string };
const nameOf = (kind: Kind, item: Item): string =>
  String(kind === 'resource' ? item.uri : kind === 'resourceTemplate' ? item.uriTemplate : item.name);

/** Decisions for one request: the virtual servers' memoized. */
export function permits(authorize: AuthorizePolicy, auth: AuthInfo) {
  const servers = new Map<string, Promise<boolean>>();
  const server = (serverId: string): Promise<boolean> => {
    let decided = servers.get(serverId);
    if (!decided) servers.set(serverId, (decided = Promise.resolve(authorize({ auth, serverId, kind: 'server' })).then(Boolean)));
    return decided;
  };
  const item = async (kind: Kind, value: Item): Promise<boolean> =>
    (await server(value.serverId)) && Boolean(await authorize({ auth, serverId: value.serverId, kind, name: nameOf(kind, value) }));
  return { server, item };
}

async function allowed<T extends Item>(items: readonly T[], kind: Kind, permit: ReturnType<typeof permits>): Promise<T[]> {
  const verdicts = await Promise.all(items.map((i) => permit.item(kind, i)));
  return items.filter((_, index) => verdicts[index]);
}

/** The catalog as `auth` may see it within `scope`: the items of `kinds` (the others, none). */
export async function authorizedView(
  catalog: Catalog,
  scope: McpScope,
  kinds: readonly ItemKind[],
  authorize: AuthorizePolicy,
  auth: AuthInfo,
): Promise<Catalog> {
  const permit = permits(authorize, auth);
  const read = async <T extends Item>(kind: Kind, list: () => readonly T[]): Promise<readonly T[]> =>
    kinds.includes(kind) ? allowed(list(), kind, permit) : [];
  const [tools, resources, templates, prompts] = await Promise.all([
    read('tool', () => catalog.listTools(scope)),
    read('resource', () => catalog.listResources(scope)),
    read('resourceTemplate', () => catalog.listResourceTemplates(scope)),
    read('prompt', () => catalog.listPrompts(scope)),
  ]);
  return {
    hasServer: (serverId) => catalog.hasServer(serverId),
    listTools: () => tools,
    listResources: () => resources,
    listResourceTemplates: () => templates,
    listPrompts: () => prompts,
  } as Catalog;
}
