/**
 * Event stores for resumable streams: the SDK's `EventStore` interface, so a client that lost its
 * stream reconnects with `Last-Event-ID` (through any worker: the GET is forwarded to the owner)
 * and receives what it missed. Each stream keeps at most `maxEventsPerStream` events for `ttlMs`.
 */
import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { checkOptionsObject, invalidOption, positiveInteger } from '../options/validations.js';

/** Options of both event stores. */
export interface EventStoreOptions {
  /**
   * Events kept per stream; older ones are dropped.
   * @default 1000
   */
  maxEventsPerStream?: number;
  /**
   * A stream with no new event for this long is forgotten, in milliseconds.
   * @default 300000 (5 minutes)
   */
  ttlMs?: number;
}

/** `<streamId>~<sequence>`: the stream id never contains `~` (the SDK makes it from a UUID). */
const SEPARATOR = '~';
const split = (eventId: string): [string, string] | undefined => {
  const at = eventId.lastIndexOf(SEPARATOR);
  return at > 0 ? [eventId.slice(0, at), eventId.slice(at + 1)] : undefined;
};

/** Events in this process's memory: enough on one machine, where the session lives with its owner. */
export class MemoryEventStore implements EventStore {
  private readonly streams = new Map<string, { events: Array<{ seq: number; message: JSONRPCMessage }>; next: number; touched: number }>();
  private readonly maxEvents: number;
  private readonly ttlMs: number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: EventStoreOptions = {}) {
    checkOptionsObject('MemoryEventStore', options, ['maxEventsPerStream', 'ttlMs']);
    this.maxEvents = positiveInteger('MemoryEventStore', 'maxEventsPerStream', options.maxEventsPerStream, 1000);
    this.ttlMs = positiveInteger('MemoryEventStore', 'ttlMs', options.ttlMs, 300_000);
    this.sweeper = setInterval(() => this.sweep(Date.now()), Math.min(60_000, this.ttlMs));
    this.sweeper.unref();
  }

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    let stream = this.streams.get(streamId);
    if (!stream) this.streams.set(streamId, (stream = { events: [], next: 1, touched: 0 }));
    const seq = stream.next++;
    stream.events.push({ seq, message });
    if (stream.events.length > this.maxEvents) stream.events.splice(0, stream.events.length - this.maxEvents);
    stream.touched = Date.now();
    return `${streamId}${SEPARATOR}${seq}`;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    const parts = split(eventId);
    return parts && this.streams.has(parts[0]) ? parts[0] : undefined;
  }

  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const parts = split(lastEventId);
    const stream = parts && this.streams.get(parts[0]);
    if (!parts || !stream) return '';
    const after = Number(parts[1]);
    for (const event of stream.events) if (event.seq > after) await send(`${parts[0]}${SEPARATOR}${event.seq}`, event.message);
    return parts[0];
  }

  /** Streams currently kept (for tests and diagnostics). */
  get size(): number {
    return this.streams.size;
  }

  private sweep(now: number): void {
    for (const [id, stream] of this.streams) if (now - stream.touched > this.ttlMs) this.streams.delete(id);
  }

  close(): void {
    clearInterval(this.sweeper);
    this.streams.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/** What `RedisEventStore` needs of an `ioredis` client (declared here: ioredis is an optional peer). */
export interface RedisStreamClientLike {
  xadd(key: string, maxlen: 'MAXLEN', approx: '~', count: number, id: '*', field: string, value: string): Promise<string | null>;
  xrange(key: string, start: string, end: string): Promise<Array<[string, string[]]>>;
  pexpire(key: string, milliseconds: number): Promise<number>;
  exists(...keys: string[]): Promise<number>;
}

/** Options of `RedisEventStore`. */
export interface RedisEventStoreOptions extends EventStoreOptions {
  /** An ioredis client you created and connected; the store never quits it. */
  client: RedisStreamClientLike;
  /**
   * Prefix of every key; one Redis stream per MCP stream, under one hash tag.
   * @default 'mcp-affinity:'
   */
  prefix?: string;
}

/**
 * Events in Redis streams (XADD with an approximate MAXLEN, a TTL per stream): they survive a
 * worker restart while the session's owner lives on, and any host can inspect them.
 */
export class RedisEventStore implements EventStore {
  private readonly client: RedisStreamClientLike;
  private readonly keyPrefix: string;
  private readonly maxEvents: number;
  private readonly ttlMs: number;

  constructor(options: RedisEventStoreOptions) {
    checkOptionsObject('RedisEventStore', options, ['client', 'prefix', 'maxEventsPerStream', 'ttlMs']);
    const client = options.client as unknown as Record<string, unknown> | undefined;
    if (!client || typeof client.xadd !== 'function' || typeof client.xrange !== 'function') {
      throw invalidOption(
        'RedisEventStore',
        'client',
        options.client,
        'expected an ioredis client you created, e.g. new Redis(process.env.REDIS_URL).',
      );
    }
    const prefix = options.prefix ?? 'mcp-affinity:';
    if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
      throw invalidOption('RedisEventStore', 'prefix', prefix, 'expected a string without { or }, such as "mcp-affinity:".');
    }
    this.client = options.client;
    this.keyPrefix = `${prefix}{events}:`;
    this.maxEvents = positiveInteger('RedisEventStore', 'maxEventsPerStream', options.maxEventsPerStream, 1000);
    this.ttlMs = positiveInteger('RedisEventStore', 'ttlMs', options.ttlMs, 300_000);
  }

  private key(streamId: string): string {
    return `${this.keyPrefix}${streamId}`;
  }

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const key = this.key(streamId);
    const entry = await this.client.xadd(key, 'MAXLEN', '~', this.maxEvents, '*', 'm', JSON.stringify(message));
    await this.client.pexpire(key, this.ttlMs);
    return `${streamId}${SEPARATOR}${entry}`;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    const parts = split(eventId);
    return parts && (await this.client.exists(this.key(parts[0]))) === 1 ? parts[0] : undefined;
  }

  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const parts = split(lastEventId);
    if (!parts || !/^\d+-\d+$/.test(parts[1])) return '';
    // `(` makes the start exclusive: only what came after the client's last event.
    const entries = await this.client.xrange(this.key(parts[0]), `(${parts[1]}`, '+');
    for (const [entry, fields] of entries) {
      const at = fields.indexOf('m');
      if (at >= 0) await send(`${parts[0]}${SEPARATOR}${entry}`, JSON.parse(fields[at + 1]!) as JSONRPCMessage);
    }
    return parts[0];
  }
}
