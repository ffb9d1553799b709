/**
 * A virtual server's items: its own, then each upstream's. A name (a URI, for resources) that is
 * already taken is left out, with a warning: a local item always wins over an upstream's, and an
 * earlier upstream over a later one.
 */
import type { Logger, Scoped, UpstreamItems, UpstreamSource } from '../types.js';

type Entry = {
  unscoped?: boolean;
  tools: Scoped<UpstreamItems['tools'][number]>[];
  resources: Scoped<UpstreamItems['resources'][number]>[];
  resourceTemplates: Scoped<UpstreamItems['resourceTemplates'][number]>[];
  prompts: Scoped<UpstreamItems['prompts'][number]>[];
};

const KEYS = { tools: 'name', resources: 'uri', resourceTemplates: 'uriTemplate', prompts: 'name' } as const;

export function mergeUpstreams<E extends Entry>(
  serverId: string,
  local: E,
  offered: ReadonlyMap<UpstreamSource, UpstreamItems>,
  logger: Logger,
): E {
  // Never the server's own entry itself: it changes in place (addTool), and what listeners were
  // told must stay as it was, to say which lists changed.
  if (offered.size === 0) return { ...local };
  const merged = {
    ...local,
    tools: [...local.tools],
    resources: [...local.resources],
    resourceTemplates: [...local.resourceTemplates],
    prompts: [...local.prompts],
  };
  for (const [source, items] of offered) {
    for (const kind of ['tools', 'resources', 'resourceTemplates', 'prompts'] as const) {
      const key = KEYS[kind];
      const taken = new Set((merged[kind] as unknown as Array<Record<string, unknown>>).map((item) => item[key]));
      for (const item of items[kind] as unknown as ReadonlyArray<Record<string, unknown>>) {
        if (taken.has(item[key])) {
          logger.warn(
            `[express-mcp-affinity] virtual server ${serverId}: upstream ${source.name} offers ${kind} ${JSON.stringify(item[key])}, which is taken; left out`,
          );
          continue;
        }
        taken.add(item[key]);
        (merged[kind] as unknown[]).push(Object.freeze({ ...item, serverId }));
      }
    }
  }
  return merged as E;
}
