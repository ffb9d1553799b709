/**
 * Prometheus metrics through `prom-client`, an optional peer: you pass the module itself
 * (`metrics: { promClient }`), so nothing is loaded when metrics are off.
 */

import { invalidOption } from './options/validations.js';
import type { MetricsOptions } from './types.js';

/** The outcome of one forward. */
export type ForwardOutcome = 'ok' | 'owner_gone' | 'timeout' | 'connect_timeout' | 'failed' | 'client_gone';

/** How the owner of a request's session was found. */
export type LookupResult = 'owned' | 'hit' | 'miss' | 'unknown' | 'error';

/** Why a session ended. */
export type SessionEnd = 'deleted' | 'expired' | 'closed' | 'revoked';

/** What the middlewares report. The default does nothing. */
export interface MetricsSink {
  forward(outcome: ForwardOutcome, seconds: number): void;
  lookup(result: LookupResult): void;
  hopRefused(reason: string): void;
  sessionEnded(reason: SessionEnd): void;
  storeError(operation: string): void;
  /** Stops reporting this worker's owned sessions. */
  close(): void;
}

export const noMetrics: MetricsSink = {
  forward: () => undefined,
  lookup: () => undefined,
  hopRefused: () => undefined,
  sessionEnded: () => undefined,
  storeError: () => undefined,
  close: () => undefined,
};

/** Per registry: each worker's count of owned sessions, read when the gauge is scraped. */
const ownedSources = new WeakMap<object, Map<string, () => number>>();

type Counter = { inc(labels: Record<string, string>, value?: number): void };

/** The counters, by name: help text and the label besides `worker`. */
const COUNTERS = {
  forwards_total: ['Requests forwarded to the worker that owns their session, by outcome', 'outcome'],
  owner_lookups_total: [
    "Lookups of a session's owner: owned (no lookup), hit (answered from memory), miss (a store round trip), unknown, error",
    'result',
  ],
  hops_refused_total: ['Requests claiming to be internal hops that were refused, by reason', 'reason'],
  sessions_ended_total: ['Sessions ended on their owner, by reason', 'reason'],
  store_errors_total: ['Store operations that failed', 'operation'],
} as const;

function checkPromClient(owner: string, promClient: MetricsOptions['promClient'] | undefined): void {
  if (
    !promClient ||
    typeof promClient.Counter !== 'function' ||
    typeof promClient.Histogram !== 'function' ||
    typeof promClient.Gauge !== 'function'
  ) {
    throw invalidOption(
      owner,
      'metrics.promClient',
      promClient,
      "expected the prom-client module: metrics: { promClient: require('prom-client') } (or import * as promClient from 'prom-client').",
    );
  }
}

/**
 * Registers the metrics once per registry (several workers in one process, as in tests, share
 * them) and returns a sink labelled with this worker's id.
 */
export function createMetrics(
  owner: string,
  options: MetricsOptions | undefined,
  workerId: string,
  ownedSessions: () => number,
): MetricsSink {
  if (options === undefined) return noMetrics;
  const { promClient } = options;
  checkPromClient(owner, promClient);
  const registry = options.registry ?? promClient.register;
  const prefix = options.prefix ?? 'mcp_affinity_';
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(`${prefix}${name}`) as T | undefined) ?? make();
  const registers = [registry];
  const counter = (name: keyof typeof COUNTERS): Counter => {
    const [help, label] = COUNTERS[name];
    return get(name, () => new promClient.Counter({ name: `${prefix}${name}`, help, labelNames: ['worker', label], registers }));
  };
  const forwardSeconds = get(
    'forward_duration_seconds',
    () =>
      new promClient.Histogram({
        name: `${prefix}forward_duration_seconds`,
        help: "Time from sending a forward to the owner's response headers",
        labelNames: ['worker'],
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
        registers,
      }),
  );
  let sources = ownedSources.get(registry);
  if (!sources) ownedSources.set(registry, (sources = new Map()));
  const perWorker = sources;
  perWorker.set(workerId, ownedSessions);
  get(
    'sessions_owned',
    () =>
      new promClient.Gauge({
        name: `${prefix}sessions_owned`,
        help: 'Sessions owned by each worker',
        labelNames: ['worker'],
        registers,
        // Read when scraped, rather than kept in step on every change.
        collect(this: { reset(): void; set(labels: Record<string, string>, value: number): void }) {
          this.reset();
          for (const [worker, read] of perWorker) this.set({ worker }, read());
        },
      }),
  );
  const [forwards, lookups, refused, ended, storeErrors] = (
    ['forwards_total', 'owner_lookups_total', 'hops_refused_total', 'sessions_ended_total', 'store_errors_total'] as const
  ).map(counter) as [Counter, Counter, Counter, Counter, Counter];
  return {
    forward: (outcome, seconds) => {
      forwards.inc({ worker: workerId, outcome });
      if (outcome === 'ok') forwardSeconds.observe({ worker: workerId }, seconds);
    },
    lookup: (result) => lookups.inc({ worker: workerId, result }),
    hopRefused: (reason) => refused.inc({ worker: workerId, reason }),
    sessionEnded: (reason) => ended.inc({ worker: workerId, reason }),
    storeError: (operation) => storeErrors.inc({ worker: workerId, operation }),
    close: () => perWorker.delete(workerId),
  };
}
