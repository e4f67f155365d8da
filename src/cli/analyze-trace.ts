#!/usr/bin/env node
// analyze-trace: the command-line face of src/analyze. It resolves the input, streams every trace
// through the analyses (and a JSONL conversion when asked), prints the report as text or JSON,
// and checks --fail-on conditions. Exit status: 0 done, 1 a condition held, 2 bad usage or input.
// Whatever goes wrong, the user gets one clear line on stderr, never a stack trace (set
// LOOPTRACE_DEBUG=1 to see one for an internal error).

import { closeSync, openSync, writeSync } from 'node:fs';
// isatty() rather than process.stdout.isTTY: creating the process.stdout stream can put a pipe in
// non-blocking mode, and this program writes with writeSync().
import { isatty } from 'node:tty';
import { GENERATOR } from '../analyze/analyzer.js';
import { evaluateFailOn } from '../analyze/fail-on.js';
import { describeFsError, InputError, resolveInput } from '../analyze/input.js';
import { JsonlConverter } from '../analyze/jsonl.js';
import '../analyze/source-files-node.js';
import type { TraceReport } from '../analyze/report.js';
import { analyzeTraces } from '../analyze/run.js';
import { mergeReports, MERGE_INDEX_OPERATIONS, type MergedReport } from '../analyze/merge.js';
import { DEFAULT_ANALYSIS_OPTIONS } from '../analyze/options.js';
import { renderMerged } from './render-merge.js';
import { palette, useColor } from './ansi.js';
import { parseArgs, USAGE, UsageError, type CliOptions } from './args.js';
import { ProgressBar } from './progress.js';
import { escapeTerminal } from './escape.js';
import { renderText } from './render-text.js';
import { operationsOptions } from './operations-args.js';
import { wantsFileOutputs, writeFileOutputs } from '../view/cli-outputs.js';
import { serveViewer } from '../view/serve.js';

const NAME = 'analyze-trace';
/** Inputs above this size get a progress bar on a terminal. */
const PROGRESS_MIN_BYTES = 64 << 20;
/** Decoder diagnostics printed one by one; beyond this they are counted. */
const MAX_PRINTED_DIAGNOSTICS = 20;

const EXIT_OK = 0;
const EXIT_VIOLATION = 1;
const EXIT_USAGE = 2;

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes all of text to a file descriptor, synchronously: the report and JSON Lines are written
 * while the analysis runs, with no event loop turn to drain a stream. A pipe left non-blocking by
 * whoever reads it answers EAGAIN when full; then wait a millisecond and go on.
 */
function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
    } catch (error) {
      if ((error as { code?: string }).code !== 'EAGAIN') throw error;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

function stderr(text: string): void {
  try {
    writeAll(2, text);
  } catch {
    // stderr closed: nothing left to tell anyone.
  }
}

/** Thrown when stdout's reader has gone (analyze-trace ... | head): the reader's choice, not an error. */
class StdoutClosed extends Error {}

function stdout(text: string): void {
  try {
    writeAll(1, text);
  } catch (error) {
    if ((error as { code?: string }).code === 'EPIPE') throw new StdoutClosed();
    throw error;
  }
}

function run(argv: readonly string[]): number {
  let options: CliOptions;
  try {
    options = parseArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      stderr(`${NAME}: ${escapeTerminal(error.message)}\nRun ${NAME} --help for usage.\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
  if (options.help) {
    stdout(USAGE);
    return EXIT_OK;
  }
  if (options.version) {
    stdout(`${GENERATOR}\n`);
    return EXIT_OK;
  }

  if (options.view || options.live) return serveViewer(options, { stdout, stderr });

  let reports: TraceReport[];
  let merged: MergedReport | undefined;
  let jsonlFd: number | undefined;
  try {
    const input = resolveInput(options.paths);
    for (const w of input.warnings) stderr(`${NAME}: warning: ${escapeTerminal(w)}\n`);

    let jsonl: JsonlConverter | undefined;
    if (options.jsonl !== undefined) {
      const target = options.jsonl;
      if (target === '-') jsonl = new JsonlConverter((text) => stdout(text));
      else {
        try {
          jsonlFd = openSync(target, 'w', 0o600);
        } catch (error) {
          throw new InputError(`cannot write --jsonl ${target}: ${describeFsError(error)}`);
        }
        const fd = jsonlFd;
        jsonl = new JsonlConverter((text) => {
          try {
            writeAll(fd, text);
          } catch (error) {
            throw new InputError(`cannot write --jsonl ${target}: ${describeFsError(error)}`);
          }
        });
      }
    }

    const progress = options.progress && isatty(2) && input.totalBytes > PROGRESS_MIN_BYTES ? new ProgressBar(input.totalBytes, stderr) : undefined;
    let printed = 0;
    let unprinted = 0;
    try {
      reports = analyzeTraces(input.traces, {
        longTaskNs: options.longTaskNs,
        idleNs: options.idleNs,
        saturation: options.saturation,
        threadpoolP90Ns: options.threadpoolP90Ns,
        threadpoolSustainNs: options.threadpoolSustainNs,
        top: options.top,
        // --merge keeps each process's operations by trace id, to join them across processes.
        operations: { ...operationsOptions(options), ...(options.merge ? { indexTraces: MERGE_INDEX_OPERATIONS } : {}) },
        sourceMaps: options.sourceMaps,
        ...(options.threads.length > 0 ? { threads: options.threads } : {}),
        ...(options.servingThreads.length > 0 ? { servingThreads: options.servingThreads } : {}),
        since: options.since,
        until: options.until,
        jsonl,
        onProgress: progress === undefined ? undefined : (bytes) => progress.update(bytes),
        onDiagnostic: (message) => {
          if (printed++ < MAX_PRINTED_DIAGNOSTICS) {
            progress?.done();
            stderr(`${NAME}: warning: ${escapeTerminal(message)}\n`);
          } else unprinted++;
        },
        onWarning: (message) => stderr(`${NAME}: warning: ${escapeTerminal(message)}\n`),
      });
    } finally {
      progress?.done();
    }
    for (const report of reports) report.checks = evaluateFailOn(report, options.failOn);
    if (options.merge) merged = mergeReports(reports, { ...(options.traceId !== undefined ? { traceId: options.traceId } : {}), top: options.top ?? DEFAULT_ANALYSIS_OPTIONS.top, generator: GENERATOR });
    if (wantsFileOutputs(options)) writeFileOutputs(input, reports, options, (m) => stderr(`${NAME}: warning: ${escapeTerminal(m)}\n`), merged);
    if (unprinted > 0) stderr(`${NAME}: warning: … and ${unprinted} more decoder problems (--json lists the first 50 per trace)\n`);
  } catch (error) {
    if (error instanceof InputError) {
      stderr(`${NAME}: ${escapeTerminal(error.message)}\n`);
      return EXIT_USAGE;
    }
    throw error;
  } finally {
    if (jsonlFd !== undefined) closeSync(jsonlFd);
  }

  // A --thread that selects nothing is a mistake (a typo, or a name the trace does not have).
  if (options.threads.length > 0 && reports.length > 0 && reports.every((r) => r.threads.length === 0 && r.trace.records > 0)) {
    stderr(`${NAME}: --thread ${options.threads.map((t) => escapeTerminal(JSON.stringify(t))).join(', ')} matches no thread of the trace (run without --thread to see the thread names)\n`);
    return EXIT_USAGE;
  }
  const violated = reports.some((r) => r.checks.some((c) => c.violated));
  if (merged !== undefined) {
    if (options.json) stdout(JSON.stringify(merged, null, 2) + '\n');
    else if (options.jsonl !== '-') stdout(renderMerged(merged, palette(useColor(isatty(1), process.env, options.color)), { allOperations: options.operations }));
    if (options.json || options.jsonl === '-') {
      merged.reports.forEach((report, i) => {
        for (const c of report.checks) if (c.violated) stderr(`${NAME}: FAIL ${escapeTerminal(c.message)} (${escapeTerminal(merged!.processes[i]!.label)})\n`);
      });
    }
  } else if (options.json) {
    stdout(JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2) + '\n');
  } else if (options.jsonl !== '-') {
    stdout(renderText(reports, palette(useColor(isatty(1), process.env, options.color)), { allOperations: options.operations }));
  }
  // The text report shows its checks; other outputs get each violated condition on stderr.
  if (merged === undefined && (options.json || options.jsonl === '-')) {
    for (const report of reports) {
      for (const c of report.checks) if (c.violated) stderr(`${NAME}: FAIL ${escapeTerminal(c.message)}${reports.length > 1 ? ` (trace ${report.trace.traceId})` : ''}\n`);
    }
  }
  return violated ? EXIT_VIOLATION : EXIT_OK;
}

try {
  process.exitCode = run(process.argv.slice(2));
} catch (error) {
  if (error instanceof StdoutClosed) process.exit(EXIT_OK);
  const message = error instanceof Error ? error.message : String(error);
  stderr(`${NAME}: internal error: ${escapeTerminal(message)}\n`);
  if (process.env.LOOPTRACE_DEBUG === '1' && error instanceof Error) stderr(`${error.stack ?? ''}\n`);
  else stderr(`(set LOOPTRACE_DEBUG=1 for details, and please report it)\n`);
  process.exitCode = EXIT_USAGE;
}
