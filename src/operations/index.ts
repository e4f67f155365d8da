// Operations: traced units of work with W3C trace context, sampling, metrics and exporters.
export { traced, NOOP_OPERATION, type TracedOptions } from './traced.js';
export { currentOperation } from './context.js';
export { startOperations, Operations } from './start.js';
export type { OperationsOptions } from './options.js';
export { Operation, type OperationData, type OperationEvent, type OperationError, type Attributes, type AttributeValue } from './operation.js';
export { parseTraceParent, formatTraceParent, parseTraceState, formatTraceState, FLAG_SAMPLED, FLAG_RANDOM, type TraceParent, type TraceStateEntry } from './trace-context.js';
export { parseBaggage, formatBaggage, type Baggage } from './baggage.js';
export { newTraceId, newSpanId } from './ids.js';
export {
  createSampler,
  alwaysSample,
  neverSample,
  RatioSampler,
  RateLimitedSampler,
  RuleSampler,
  ParentBasedSampler,
  CompositeSampler,
  type Sampler,
  type SamplerConfig,
  type SamplingInput,
} from './samplers.js';
export { OTHER_OPERATIONS, type OperationMetrics, type MetricsSnapshot, type OperationStatus } from './metrics.js';
export { RELATIVE_ERROR as DURATION_RELATIVE_ERROR } from './duration-histogram.js';
export { InMemoryExporter, CallbackExporter, CompositeExporter, NoopExporter, type OperationExporter, type LifecycleCallbacks } from './exporters.js';
export { ConsoleExporter, type ConsoleExporterOptions } from './console-exporter.js';
export { InMemoryTraceSink, type TraceSink } from './sink.js';
export { httpOperationName, collapsePath } from './route-name.js';
export type { IncomingContext } from './runtime.js';
export { MAX_CALLBACK_WINDOW_MS, type CallbackWindow, type CallbackSink } from './callbacks.js';
