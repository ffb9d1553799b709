/**
 * Per-upstream Prometheus metrics (`upstream({ metrics: { promClient } })`): how long each upstream
 * request took, the failures by kind, the upstream sessions open now and whether the upstream is
 * left out of the lists. Registered once per registry; the gauges are read when scraped.
 */
import type { MetricsOptions } from '../types.js';

export type UpstreamFailure = 'unreachable' | 'timeout' | 'answer_too_large' | 'circuit_open' | 'upstream_error' | 'lost_session';

export interface UpstreamMetrics {
  request(method: string, outcome: 'ok' | 'error' | 'cancelled', seconds: number): void;
  failure(kind: UpstreamFailure): void;
  /** Stops reading this upstream's gauges (it closed). */
  close(): void;
}

export interface UpstreamGauges {
  /** Upstream sessions open now (the shared one included). */
  openSessions(): number;
  /** Whether its items are left out of the lists now. */
  unavailable(): boolean;
}

const noMetrics: UpstreamMetrics = { request: () => undefined, failure: () => undefined, close: () => undefined };

/** Per registry: the gauges of each upstream by name (several workers in one process, as in tests, add up). */
const sources = new WeakMap<object, Map<string, Set<UpstreamGauges>>>();

type Collectable = { reset(): void; set(labels: Record<string, string>, value: number): void };

export function createUpstreamMetrics(upstream: string, options: MetricsOptions | undefined, gauges: UpstreamGauges): UpstreamMetrics {
  if (options === undefined) return noMetrics;
  const { promClient } = options;
  const registry = options.registry ?? promClient.register;
  const prefix = options.prefix ?? 'mcp_affinity_';
  const registers = [registry];
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(`${prefix}${name}`) as T | undefined) ?? make();
  let perUpstream = sources.get(registry);
  if (!perUpstream) sources.set(registry, (perUpstream = new Map()));
  const known = perUpstream;
  const mine = known.get(upstream) ?? new Set<UpstreamGauges>();
  known.set(upstream, mine.add(gauges));
  const gauge = (name: string, help: string, read: (g: readonly UpstreamGauges[]) => number) =>
    get(
      name,
      () =>
        new promClient.Gauge({
          name: `${prefix}${name}`,
          help,
          labelNames: ['upstream'],
          registers,
          collect(this: Collectable) {
            this.reset();
            for (const [name, all] of known) this.set({ upstream: name }, read([...all]));
          },
        }),
    );
  gauge('upstream_sessions_open', 'Upstream sessions open on this process, per upstream', (all) =>
    all.reduce((sum, g) => sum + g.openSessions(), 0),
  );
  gauge('upstream_unavailable', 'Whether the upstream is left out of the lists (1) because it cannot be reached', (all) =>
    all.some((g) => g.unavailable()) ? 1 : 0,
  );
  const seconds = get(
    'upstream_request_duration_seconds',
    () =>
      new promClient.Histogram({
        name: `${prefix}upstream_request_duration_seconds`,
        help: 'Time an upstream request took, from sending it to its answer or failure',
        labelNames: ['upstream', 'method', 'outcome'],
        buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers,
      }),
  );
  const failures = get(
    'upstream_errors_total',
    () =>
      new promClient.Counter({
        name: `${prefix}upstream_errors_total`,
        help: 'Upstream requests that failed, by kind',
        labelNames: ['upstream', 'kind'],
        registers,
      }),
  );
  return {
    request: (method, outcome, s) => seconds.observe({ upstream, method, outcome }, s),
    failure: (kind) => failures.inc({ upstream, kind }),
    close: () => {
      mine.delete(gauges);
      if (mine.size === 0 && known.get(upstream) === mine) known.delete(upstream);
    },
  };
}
