/**
 * Gateway events over Redis pub/sub for `RedisStore`: one channel per gateway, published with the
 * store's client and received on one subscribing connection of its own (`client.duplicate()`). On
 * a Redis Cluster a PUBLISH reaches subscribers on every node, and ioredis' `Cluster` re-subscribes
 * on another node when the one it subscribed on fails.
 */
import { ErrorCodes, McpAffinityError } from '../errors.js';
import type { GatewayEvent, Logger } from '../types.js';
import type { RedisClientLike, RedisSubscriberLike } from './redis-types.js';

export class RedisEvents {
  private subscriber: RedisSubscriberLike | undefined;
  private readonly listeners = new Set<(event: GatewayEvent) => void>();

  constructor(
    private readonly client: RedisClientLike,
    private readonly channel: string,
    private readonly logger: Logger,
  ) {}

  /** The published message; the caller bounds the call. */
  async publish(event: GatewayEvent): Promise<void> {
    if (typeof this.client.publish !== 'function')
      throw new McpAffinityError(ErrorCodes.STORE_UNAVAILABLE, 'RedisStore: the client cannot publish');
    await this.client.publish(this.channel, JSON.stringify(event));
  }

  /** The first listener opens the subscribing connection; the last one gone closes it. */
  subscribe(listener: (event: GatewayEvent) => void): () => void {
    if (!this.subscriber && typeof this.client.duplicate === 'function') {
      const subscriber = this.client.duplicate();
      this.subscriber = subscriber;
      subscriber.on('message', (channel, message) => {
        if (channel !== this.channel) return;
        let event: GatewayEvent;
        try {
          event = JSON.parse(message) as GatewayEvent;
        } catch {
          return;
        }
        for (const l of [...this.listeners]) l(event);
      });
      subscriber
        .subscribe(this.channel)
        .catch((error: unknown) => this.logger.warn(`[express-mcp-affinity] subscribing to gateway events failed: ${String(error)}`));
    }
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) void this.close();
    };
  }

  /** Drops every listener and quits the subscribing connection (the store's own, a duplicate). */
  async close(): Promise<void> {
    this.listeners.clear();
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    await subscriber?.quit().catch(() => undefined);
  }
}
