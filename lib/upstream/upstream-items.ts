/**
 * What an upstream offers, as a virtual server's items: listed once through a connection, names
 * prefixed and filtered by include/exclude, each item's handler calling back into the upstream.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult, GetPromptResult, ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import { SUBSCRIPTION_HOOK } from '../mcp/session-link.js';
import type { HandlerContext, ToolInputSchema, UpstreamItems } from '../types.js';
import type { UpstreamConfig } from './upstream-options.js';
import type { UpstreamSubscriptions } from './upstream-subscriptions.js';

/** How an item reaches its upstream. */
export interface UpstreamCalls {
  callTool(name: string, args: Record<string, unknown>, ctx: HandlerContext): Promise<CallToolResult>;
  read(uri: string, ctx: HandlerContext): Promise<ReadResourceResult>;
  getPrompt(name: string, args: Record<string, string>, ctx: HandlerContext): Promise<GetPromptResult>;
  /** Answers resources/subscribe for the upstream's resources. */
  readonly subscriptions: UpstreamSubscriptions;
}

export async function listUpstream(client: Client, config: UpstreamConfig, calls: UpstreamCalls): Promise<UpstreamItems> {
  const caps = client.getServerCapabilities() ?? {};
  const options = { timeout: config.timeoutMs };
  const [tools, resources, templates, prompts] = await Promise.all([
    caps.tools ? client.listTools(undefined, options).then((r) => r.tools) : [],
    caps.resources ? client.listResources(undefined, options).then((r) => r.resources) : [],
    caps.resources ? client.listResourceTemplates(undefined, options).then((r) => r.resourceTemplates) : [],
    caps.prompts ? client.listPrompts(undefined, options).then((r) => r.prompts) : [],
  ]);
  const { prefix, include, exclude } = config;
  const wanted = (kind: 'tools' | 'prompts' | 'resources', name: string) =>
    (include[kind] === undefined || include[kind].has(name)) && !exclude[kind]?.has(name);
  return {
    tools: tools
      .filter((t) => wanted('tools', t.name))
      .map((t) => ({
        name: `${prefix}${t.name}`,
        ...(t.title === undefined ? {} : { title: t.title }),
        ...(t.description === undefined ? {} : { description: t.description }),
        ...(t.annotations === undefined ? {} : { annotations: t.annotations }),
        inputSchema: t.inputSchema as ToolInputSchema,
        handler: (args: Record<string, unknown>, ctx: HandlerContext) => calls.callTool(t.name, args, ctx),
      })),
    resources: resources
      .filter((r) => wanted('resources', r.uri))
      .map((r) => ({
        uri: r.uri,
        name: r.name,
        ...(r.description === undefined ? {} : { description: r.description }),
        ...(r.mimeType === undefined ? {} : { mimeType: r.mimeType }),
        read: (ctx: HandlerContext) => calls.read(r.uri, ctx),
        [SUBSCRIPTION_HOOK]: calls.subscriptions,
      })),
    resourceTemplates: templates.map((t) => ({
      uriTemplate: t.uriTemplate,
      name: t.name,
      ...(t.description === undefined ? {} : { description: t.description }),
      ...(t.mimeType === undefined ? {} : { mimeType: t.mimeType }),
      read: (uri: string, _vars: unknown, ctx: HandlerContext) => calls.read(uri, ctx),
    })),
    prompts: prompts
      .filter((p) => wanted('prompts', p.name))
      .map((p) => ({
        name: `${prefix}${p.name}`,
        ...(p.description === undefined ? {} : { description: p.description }),
        ...(p.arguments === undefined ? {} : { arguments: p.arguments }),
        get: (args: Record<string, string>, ctx: HandlerContext) => calls.getPrompt(p.name, args, ctx),
      })),
  };
}
