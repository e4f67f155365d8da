// The analyses behind analyze-trace, as a library: feed a TraceAnalyzer a trace's records (or hand
// analyzeTraces() the files that resolveInput() found) and get a TraceReport, the shape that
// `analyze-trace --json` prints (docs/ANALYZE-JSON.md).
export { TraceAnalyzer, GENERATOR } from './analyzer.js';
export { analyzeTraces, type RunOptions } from './run.js';
export { resolveInput, InputError, type ResolvedInput, type TraceInput, type TraceFile } from './input.js';
export { resolveAnalysisOptions, DEFAULT_ANALYSIS_OPTIONS, type AnalysisOptions, type ResolvedAnalysisOptions } from './options.js';
export * from './report.js';
export { LogLinearHistogram, type HistogramSummary } from './histogram.js';
export { TopK } from './top-k.js';
export { SelfCostAccumulator, type SelfCostReport, type SelfCostPart, type SelfCostThread } from './self-cost.js';
export { BucketGrid, BucketColumns, BucketHistograms } from './time-series.js';
export { WallClock, isoOf, clockAnchorOf } from './wall-clock.js';
export { threadMatcher, checkThreadPattern, ThreadPatternError, type SelectableThread } from './thread-select.js';
export { ThreadTracker, Activity, type BusyRun, type TrackerContext } from './thread-stats.js';
export { LongTaskCollector, describeRun, cpuVerdict, timeSplit, CPU_BOUND_RATIO, OFF_CPU_RATIO, type AttributionLookup } from './long-tasks.js';
export { StackResolver, BlockingCodeCollector, blockingSite, stackLine, frameText, frameLocation, isUserFrame } from './attribution.js';
export { StretchSampler, type RunSamples, type StackWeight } from './stack-samples.js';
export { SourceMapResolver, scriptPath, displayScript, installSourceFiles, type OriginalPosition, type SourceFiles } from './source-maps.js';
export { nodeSourceFiles } from './source-files-node.js';
export { analyzeIdleWorkers, poolKey, listWorkers, type IdleWorkerOptions } from './idle-workers.js';
export { ThreadpoolAnalyzer, type ThreadpoolOptions } from './threadpool.js';
export { buildFindings, describeTask, siteSentence } from './findings.js';
export { parseFailOn, evaluateFailOn, FailOnError, FAIL_ON_METRICS, PER_THREAD_METRICS, type FailOnCondition } from './fail-on.js';
export { parseDuration, DURATION_UNITS } from './durations.js';
export { parseTimeSpec, resolveTimeSpec, type TimeSpec } from './window.js';
export { JsonlConverter, type JsonlOptions } from './jsonl.js';
export { formatDuration, formatPercent, formatPercentRange, formatCount, timeOfDay } from './format.js';
export { mergeReports, MERGE_INDEX_OPERATIONS, type MergedReport, type MergeOptions, type ProcessSummary, type WorstTask, type MergedFinding, type MergedTreeNode, type JoinedTrace } from './merge.js';
