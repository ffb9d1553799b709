/**
 * Which of a virtual server's lists changed, so that its sessions hear the matching
 * `notifications/{tools,resources,prompts}/list_changed` and nothing else. Lists are compared by
 * what a client would list (functions left out), which also keeps an upstream's unchanged
 * relisting silent.
 */
import type { ListKind } from './types.js';

/** The items of one virtual server, by list. */
export interface ListedItems {
  readonly tools: readonly object[];
  readonly resources: readonly object[];
  readonly resourceTemplates: readonly object[];
  readonly prompts: readonly object[];
}

export const LIST_KINDS: readonly ListKind[] = Object.freeze(['tools', 'resources', 'prompts']);

const EMPTY: ListedItems = { tools: [], resources: [], resourceTemplates: [], prompts: [] };

const sameList = (a: readonly object[], b: readonly object[]): boolean =>
  a === b || (a.length === b.length && JSON.stringify(a) === JSON.stringify(b));

/** The lists that differ between two states of a server (absent: no server). */
export function changedKinds(before: ListedItems | undefined, after: ListedItems | undefined): ListKind[] {
  const was = before ?? EMPTY;
  const is = after ?? EMPTY;
  const kinds: ListKind[] = [];
  if (!sameList(was.tools, is.tools)) kinds.push('tools');
  if (!sameList(was.resources, is.resources) || !sameList(was.resourceTemplates, is.resourceTemplates)) kinds.push('resources');
  if (!sameList(was.prompts, is.prompts)) kinds.push('prompts');
  return kinds;
}
