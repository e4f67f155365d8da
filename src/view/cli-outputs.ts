// The visual outputs that analyze-trace writes beside its report: --perfetto, --chrome-trace and
// --html. Each is one file per run; an input of several traces writes the first trace's file
// and warns, since neither format has a place for unrelated processes' clocks.

import { writeFileSync } from 'node:fs';
import { describeFsError, InputError, type ResolvedInput } from '../analyze/input.js';
import { DEFAULT_ANALYSIS_OPTIONS } from '../analyze/options.js';
import type { MergedReport } from '../analyze/merge.js';
import type { TraceReport } from '../analyze/report.js';
import { ChromeTraceWriter } from './chrome-writer.js';
import { exportTrace } from './export-trace.js';
import { renderHtmlReport } from './html-report.js';
import { PerfettoWriter } from './perfetto-writer.js';

export interface FileOutputs {
  html: string | undefined;
  perfetto: string | undefined;
  chromeTrace: string | undefined;
  longTaskNs: number | undefined;
}

export function wantsFileOutputs(o: FileOutputs): boolean {
  return o.html !== undefined || o.perfetto !== undefined || o.chromeTrace !== undefined;
}

/** With `merged` (--merge), the HTML report opens with the processes side by side and the joined requests. */
export function writeFileOutputs(input: ResolvedInput, reports: readonly TraceReport[], o: FileOutputs, warn: (message: string) => void, merged?: MergedReport): void {
  const trace = input.traces[0];
  if (trace === undefined) return;
  if ((o.perfetto !== undefined || o.chromeTrace !== undefined) && input.traces.length > 1) {
    warn(`the input holds ${input.traces.length} traces; --perfetto and --chrome-trace export the first (${trace.traceId})`);
  }
  const longTaskNs = o.longTaskNs ?? DEFAULT_ANALYSIS_OPTIONS.longTaskNs;
  if (o.perfetto !== undefined) exportTrace(trace, o.perfetto, new PerfettoWriter(), { longTaskNs });
  if (o.chromeTrace !== undefined) exportTrace(trace, o.chromeTrace, new ChromeTraceWriter(), { longTaskNs });
  if (o.html !== undefined) {
    try {
      writeFileSync(o.html, renderHtmlReport(merged?.reports ?? reports, merged), { mode: 0o600 });
    } catch (error) {
      throw new InputError(`cannot write --html ${o.html}: ${describeFsError(error)}`);
    }
  }
}
