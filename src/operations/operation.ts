// An operation: a named unit of work with W3C trace context, timing, attributes, events and an
// outcome. Operations that are not sampled keep only what metrics need (name, timing, status);
// their attributes and events are dropped at the call, which keeps them cheap.

import { performance } from 'node:perf_hooks';
import type { Baggage } from './baggage.js';
import { formatBaggage } from './baggage.js';
import { newSpanId, newTraceId } from './ids.js';
import { formatTraceParent, formatTraceState, type TraceStateEntry } from './trace-context.js';
import type { NameStats, OperationStatus } from './metrics.js';

export type AttributeValue = string | number | boolean;
export type Attributes = Record<string, AttributeValue>;

export interface OperationEvent {
  name: string;
  /** Milliseconds since the epoch, with sub-millisecond precision. */
  timeMs: number;
  attributes?: Attributes;
}

export interface OperationError {
  name: string;
  message: string;
  stack?: string;
}

/** What exporters and sinks see of an operation. */
export interface OperationData {
  readonly name: string;
  /** Unique within the trace file (thread-qualified); used by OPERATION_START/END records. */
  readonly operationId: number;
  readonly traceId: string;
  readonly spanId: string;
  /** The parent's span id; undefined for a root. */
  readonly parentSpanId: string | undefined;
  /** True when the parent came from another process (a traceparent header). */
  readonly remoteParent: boolean;
  readonly sampled: boolean;
  readonly status: OperationStatus | 'active';
  /** Milliseconds since the epoch, with sub-millisecond precision. */
  readonly startTimeMs: number;
  /** 0 while active. */
  readonly durationNs: number;
  readonly attributes: Readonly<Attributes>;
  readonly events: readonly OperationEvent[];
  readonly error: OperationError | undefined;
  readonly baggage: Baggage;
  readonly traceState: readonly TraceStateEntry[];
}

export interface OperationHooks {
  ended(op: Operation): void;
}

const EMPTY_ATTRIBUTES: Attributes = Object.freeze({}) as Attributes;
const EMPTY_EVENTS: readonly OperationEvent[] = Object.freeze([]);
const EMPTY_BAGGAGE: Baggage = Object.freeze({});
const EMPTY_STATE: readonly TraceStateEntry[] = Object.freeze([]);
/** Attributes and events kept per operation; more are counted and dropped. */
const MAX_ATTRIBUTES = 128;
const MAX_EVENTS = 128;

export class Operation implements OperationData {
  readonly name: string;
  readonly operationId: number;
  readonly remoteParent: boolean;
  /** @internal Set once by the runtime right after the sampler decided. */
  sampled: boolean;
  readonly baggage: Baggage;
  readonly traceState: readonly TraceStateEntry[];
  status: OperationStatus | 'active' = 'active';
  durationNs = 0;
  attributes: Attributes = EMPTY_ATTRIBUTES;
  events: OperationEvent[] = EMPTY_EVENTS as OperationEvent[];
  error: OperationError | undefined = undefined;
  /** Attributes and events dropped past the per-operation limits. */
  droppedDetails = 0;
  /** @internal */ readonly startMonoMs: number;
  /** @internal */ readonly stats: NameStats;
  /** @internal */ readonly hooks: OperationHooks;

  /** Made on first use: most unsampled operations never need one. */
  private spanIdValue: string | undefined;
  /** A root's trace id is made on first use too; a child reads its parent's. */
  private traceIdValue: string | undefined;
  /** The parent's span id, or the local parent operation (its span id is read when needed). */
  private readonly parent: string | Operation | undefined;

  /** @internal Operations are created by traced() and the HTTP integration. */
  constructor(
    name: string,
    operationId: number,
    traceId: string | undefined,
    spanId: string | undefined,
    parent: string | Operation | undefined,
    remoteParent: boolean,
    sampled: boolean,
    baggage: Baggage | undefined,
    traceState: readonly TraceStateEntry[] | undefined,
    stats: NameStats,
    hooks: OperationHooks,
  ) {
    this.name = name;
    this.operationId = operationId;
    this.traceIdValue = traceId;
    this.spanIdValue = spanId;
    this.parent = parent;
    this.remoteParent = remoteParent;
    this.sampled = sampled;
    this.baggage = baggage ?? EMPTY_BAGGAGE;
    this.traceState = traceState ?? EMPTY_STATE;
    this.stats = stats;
    this.hooks = hooks;
    this.startMonoMs = performance.now();
  }

  get traceId(): string {
    if (this.traceIdValue !== undefined) return this.traceIdValue;
    const parent = this.parent;
    return (this.traceIdValue = typeof parent === 'object' ? parent.traceId : newTraceId());
  }

  get spanId(): string {
    return (this.spanIdValue ??= newSpanId());
  }

  get parentSpanId(): string | undefined {
    const parent = this.parent;
    return parent === undefined || typeof parent === 'string' ? parent : parent.spanId;
  }

  get startTimeMs(): number {
    return performance.timeOrigin + this.startMonoMs;
  }

  get ended(): boolean {
    return this.status !== 'active';
  }

  setAttribute(key: string, value: AttributeValue): this {
    if (!this.sampled || this.status !== 'active') return this;
    if (typeof key !== 'string' || !(typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')) return this;
    if (this.attributes === EMPTY_ATTRIBUTES) this.attributes = Object.create(null) as Attributes;
    if (!(key in this.attributes) && Object.keys(this.attributes).length >= MAX_ATTRIBUTES) {
      this.droppedDetails++;
      return this;
    }
    this.attributes[key] = value;
    return this;
  }

  setAttributes(attributes: Attributes): this {
    if (!this.sampled || typeof attributes !== 'object' || attributes === null) return this;
    for (const key of Object.keys(attributes)) this.setAttribute(key, attributes[key]!);
    return this;
  }

  addEvent(name: string, attributes?: Attributes): this {
    if (!this.sampled || this.status !== 'active' || typeof name !== 'string') return this;
    if (this.events === EMPTY_EVENTS) this.events = [];
    if (this.events.length >= MAX_EVENTS) {
      this.droppedDetails++;
      return this;
    }
    const event: OperationEvent = { name, timeMs: performance.timeOrigin + performance.now() };
    if (attributes !== undefined && typeof attributes === 'object' && attributes !== null) event.attributes = { ...attributes };
    this.events.push(event);
    return this;
  }

  /** Records an error without ending the operation (ending it with the error marks it failed). */
  recordError(error: unknown): this {
    if (this.status !== 'active') return this;
    this.error = describeError(error);
    if (this.sampled) this.addEvent('exception', { 'exception.type': this.error.name, 'exception.message': this.error.message });
    return this;
  }

  /** The traceparent header that makes a callee a child of this operation. */
  traceparent(): string {
    return formatTraceParent(this.traceId, this.spanId, this.sampled);
  }

  /** traceparent, and tracestate and baggage when there are any: headers for an outgoing request. */
  headers(): Record<string, string> {
    const out: Record<string, string> = { traceparent: this.traceparent() };
    if (this.traceState.length > 0) out['tracestate'] = formatTraceState(this.traceState);
    const baggage = formatBaggage(this.baggage);
    if (baggage.length > 0) out['baggage'] = baggage;
    return out;
  }

  /** @internal Ends the operation once; later calls do nothing. */
  end(status: OperationStatus, error?: unknown): void {
    if (this.status !== 'active') return;
    this.durationNs = Math.max(0, Math.round((performance.now() - this.startMonoMs) * 1e6));
    this.status = status;
    if (error !== undefined && this.error === undefined) this.error = describeError(error);
    this.stats.ended(status, this.durationNs);
    this.hooks.ended(this);
  }

  toJSON(): object {
    return {
      name: this.name,
      traceId: this.traceId,
      spanId: this.spanId,
      parentSpanId: this.parentSpanId,
      sampled: this.sampled,
      status: this.status,
      startTimeMs: this.startTimeMs,
      durationNs: this.durationNs,
      attributes: this.attributes,
      events: this.events,
      error: this.error,
      baggage: this.baggage,
    };
  }
}

export function describeError(error: unknown): OperationError {
  if (error instanceof Error) {
    const out: OperationError = { name: error.name, message: error.message };
    if (typeof error.stack === 'string') out.stack = error.stack;
    return out;
  }
  let message: string;
  try {
    message = typeof error === 'string' ? error : String(error);
  } catch {
    message = 'an unprintable value';
  }
  return { name: typeof error, message };
}
