/** Which lists a catalog change names: the sessions hear only those (lib/list-kinds.ts, MemoryCatalog). */
import { createCatalog, type ListKind } from '../lib/index';

const tool = (name: string) => ({ name, inputSchema: { type: 'object' as const }, handler: () => ({ content: [] }) });
const prompt = (name: string) => ({ name, get: () => ({ messages: [] }) });
const resource = (uri: string) => ({ uri, name: uri, read: () => ({ contents: [] }) });

function heard() {
  const catalog = createCatalog({ alpha: { tools: [tool('a')], prompts: [prompt('p')] } });
  const events: Array<[string, readonly ListKind[]]> = [];
  catalog.onChange((serverId, kinds) => void events.push([serverId, kinds ?? []]));
  return { catalog, events };
}

test('a tool added or removed: tools only', () => {
  const { catalog, events } = heard();
  catalog.addTool('alpha', tool('b'));
  catalog.removeTool('alpha', 'b');
  expect(events).toEqual([
    ['alpha', ['tools']],
    ['alpha', ['tools']],
  ]);
});

test('a server set again: the lists that differ, and nothing when nothing differs', () => {
  const { catalog, events } = heard();
  catalog.setServer('alpha', { tools: [tool('a')], prompts: [prompt('p')] });
  catalog.setServer('alpha', { tools: [tool('a')], prompts: [prompt('q')], resources: [resource('memo://x')] });
  expect(events).toEqual([['alpha', ['resources', 'prompts']]]);
});

test('a template counts as a resource; leaving the unscoped view changes every list; deleting names what it had', () => {
  const { catalog, events } = heard();
  catalog.setServer('alpha', {
    tools: [tool('a')],
    prompts: [prompt('p')],
    resourceTemplates: [{ uriTemplate: 'memo://{id}', name: 't', read: () => ({ contents: [] }) }],
  });
  catalog.setServer('alpha', { unscoped: false, tools: [tool('a')], prompts: [prompt('p')] });
  catalog.deleteServer('alpha');
  expect(events).toEqual([
    ['alpha', ['resources']],
    ['alpha', ['tools', 'resources', 'prompts']],
    ['alpha', ['tools', 'prompts']],
  ]);
});
