// The `operations` options (of startOperations() and of startRuntimeTelemetry), with defaults,
// checked before anything starts.

import type { IncomingMessage } from 'node:http';
import { invalidArgument } from './errors.js';
import { isExporter, type OperationExporter } from './exporters.js';
import type { MetricsSnapshot } from './metrics.js';
import { createSampler, ParentBasedSampler, alwaysSample, type Sampler, type SamplerConfig } from './samplers.js';
import type { HttpOptions } from './http.js';

export interface OperationsOptions {
  /**
   * Incoming node:http requests become operations and outgoing requests carry trace headers.
   * true, false, or { server, client, name(request) }. Default false.
   */
  http?: boolean | { server?: boolean; client?: boolean; name?: (request: IncomingMessage) => string };
  /** Which operations are recorded in detail. Default: parent-based, sampling every root. */
  sampler?: SamplerConfig | Sampler;
  /** Where sampled operations go besides the trace. Default: none. */
  exporters?: OperationExporter | OperationExporter[];
  /** Write sampled operations into the trace file (with startRuntimeTelemetry). Default true. */
  trace?: boolean;
  /** Names tracked one by one; later names share the "(other)" bucket. Default 500. */
  maxOperationNames?: number;
  /** Called with a metrics snapshot every metricsIntervalMs. Default: not called. */
  onMetrics?: (snapshot: MetricsSnapshot) => void;
  /** Default 10,000 ms. */
  metricsIntervalMs?: number;
}

export interface ResolvedOperationsOptions {
  http: HttpOptions | undefined;
  sampler: Sampler;
  exporters: OperationExporter[];
  trace: boolean;
  maxOperationNames: number;
  onMetrics: ((snapshot: MetricsSnapshot) => void) | undefined;
  metricsIntervalMs: number;
}

const KNOWN = new Set(['http', 'sampler', 'exporters', 'trace', 'maxOperationNames', 'onMetrics', 'metricsIntervalMs']);

export function resolveOperationsOptions(options: unknown, path = 'operations'): ResolvedOperationsOptions {
  if (options === true || options === undefined) options = {};
  if (typeof options !== 'object' || options === null) throw invalidArgument(`option ${path}`, 'true or an object', options);
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key)) throw invalidArgument(`option ${path}.${key}`, `one of ${[...KNOWN].join(', ')} (unknown option)`, o[key]);
  }
  return {
    http: resolveHttp(o['http'], `${path}.http`),
    sampler: o['sampler'] === undefined ? new ParentBasedSampler(alwaysSample) : createSampler(o['sampler'], `option ${path}.sampler`),
    exporters: resolveExporters(o['exporters'], `${path}.exporters`),
    trace: bool(o['trace'], true, `${path}.trace`),
    maxOperationNames: int(o['maxOperationNames'], 500, 1, 100_000, `${path}.maxOperationNames`),
    onMetrics: fn(o['onMetrics'], `${path}.onMetrics`) as ResolvedOperationsOptions['onMetrics'],
    metricsIntervalMs: int(o['metricsIntervalMs'], 10_000, 10, 86_400_000, `${path}.metricsIntervalMs`),
  };
}

function resolveHttp(value: unknown, path: string): HttpOptions | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { server: true, client: true, name: undefined };
  if (typeof value !== 'object' || value === null) throw invalidArgument(`option ${path}`, 'true, false or { server, client, name }', value);
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key !== 'server' && key !== 'client' && key !== 'name') throw invalidArgument(`option ${path}.${key}`, 'one of server, client, name (unknown option)', o[key]);
  }
  return {
    server: bool(o['server'], true, `${path}.server`),
    client: bool(o['client'], true, `${path}.client`),
    name: fn(o['name'], `${path}.name`) as HttpOptions['name'],
  };
}

function resolveExporters(value: unknown, path: string): OperationExporter[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  list.forEach((e, i) => {
    if (!isExporter(e)) throw invalidArgument(`option ${Array.isArray(value) ? `${path}[${i}]` : path}`, 'an exporter (an object with onEnd())', e);
  });
  return list as OperationExporter[];
}

function bool(v: unknown, fallback: boolean, path: string): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw invalidArgument(`option ${path}`, 'true or false', v);
  return v;
}

function int(v: unknown, fallback: number, min: number, max: number, path: string): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalidArgument(`option ${path}`, `an integer from ${min} to ${max}`, v);
  return v;
}

function fn(v: unknown, path: string): unknown {
  if (v === undefined) return undefined;
  if (typeof v !== 'function') throw invalidArgument(`option ${path}`, 'a function', v);
  return v;
}
