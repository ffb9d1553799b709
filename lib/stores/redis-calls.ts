/**
 * How `RedisStore` talks to Redis: every call bounded by the operation timeout and failing at
 * once while the client is not ready; scripts by SHA, sent in full once a node lacks them; SCAN
 * over every master of a Cluster.
 */
import { ErrorCodes, McpAffinityError } from '../errors.js';
import type { Script } from './redis-scripts.js';
import type { RedisClientLike, RedisScannerLike } from './redis-types.js';

export class RedisCalls {
  constructor(
    private readonly client: RedisClientLike,
    private readonly operationTimeoutMs: number,
  ) {}

  /** Runs one Redis call within the operation timeout; fails at once while the client is not ready. */
  async call<T>(run: () => Promise<T>): Promise<T> {
    if (this.client.status !== 'ready') {
      throw new McpAffinityError(ErrorCodes.STORE_UNAVAILABLE, `RedisStore: Redis is not available (client status ${this.client.status})`);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new McpAffinityError(ErrorCodes.STORE_UNAVAILABLE, `RedisStore: Redis did not answer within ${this.operationTimeoutMs} ms`),
          ),
        this.operationTimeoutMs,
      );
    });
    try {
      return await Promise.race([run(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A script (unbounded: wrap it in `call`). On a Cluster it goes to the node of `keys[0]`. */
  async run(s: Script, keys: string[], args: Array<string | number>): Promise<unknown> {
    const client = this.client;
    try {
      return await client.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!String((error as Error)?.message).includes('NOSCRIPT')) throw error;
      return client.eval(s.source, keys.length, ...keys, ...args);
    }
  }

  /** Waits (bounded) for a client that is still connecting, as at start-up. */
  async ready(ms: number): Promise<void> {
    if (this.client.status === 'ready' || typeof this.client.once !== 'function') return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.client.once!('ready', () => (clearTimeout(timer), resolve()));
    });
  }

  /** Every key matching `pattern`: a full SCAN of each master of a Cluster, or of the one server. */
  async scanAll(pattern: string): Promise<string[]> {
    const nodes: RedisScannerLike[] = this.client.nodes?.('master') ?? [this.client as RedisScannerLike];
    if (nodes.some((node) => typeof node?.scan !== 'function'))
      throw new McpAffinityError(ErrorCodes.STORE_UNAVAILABLE, 'RedisStore: the client cannot SCAN');
    const scanned = await Promise.all(
      nodes.map(async (node) => {
        const keys: string[] = [];
        let cursor = '0';
        do {
          const [next, page] = await this.call(() => node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000));
          cursor = next;
          keys.push(...page);
        } while (cursor !== '0');
        return keys;
      }),
    );
    return scanned.flat();
  }
}
