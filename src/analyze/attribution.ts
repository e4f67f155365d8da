// Which code blocked a loop: sampled stacks resolved to frames (source-mapped where a map is on
// disk), the blocking site of a stack (the innermost frame of user code, with the frames of Node's
// own code or of builtins above it kept visible), and the "blocking code" aggregate of all long
// tasks: self time by blocking site and total time by function.

import type { StackFrame } from '../format/records.js';
import type { BlockingCodeEntry, BlockingCodeReport, BlockingSite, CallFrame } from './report.js';
import { displayScript, type SourceMapResolver } from './source-maps.js';
import type { BusyRun } from './thread-stats.js';

/** The blocking-code lists name at most this many entries. */
const MAX_BLOCKING_ENTRIES = 10;

/** A frame of code the user wrote (or installed): not Node's own (node:…) and not without a script (builtins). */
export function isUserFrame(frame: CallFrame): boolean {
  return frame.url !== '' && !frame.url.startsWith('node:');
}

/** Stacks of the trace as CallFrames, resolved once each. */
export class StackResolver {
  private readonly resolved = new Map<number, CallFrame[]>();

  constructor(
    private readonly strings: ReadonlyMap<number, string>,
    private readonly stacks: ReadonlyMap<number, readonly StackFrame[]>,
    private readonly sourceMaps: SourceMapResolver,
  ) {}

  /** The frames of a stack, innermost first; [] when it is not defined (or is stack 0: no JavaScript). */
  frames(stackId: number): CallFrame[] {
    let frames = this.resolved.get(stackId);
    if (frames === undefined) {
      frames = (this.stacks.get(stackId) ?? []).map((f) => {
        const url = this.strings.get(f.scriptStringId) ?? '';
        return {
          function: this.strings.get(f.functionNameStringId) ?? '',
          url,
          line: f.line,
          column: f.column,
          original: this.sourceMaps.map(url, f.line, f.column),
        };
      });
      this.resolved.set(stackId, frames);
    }
    return frames;
  }

  /** The blocking site of a stack; a stack with no frames (id 0, or not defined in the trace) gets a placeholder frame that says which. */
  site(stackId: number): BlockingSite {
    const frames = this.frames(stackId);
    return frames.length > 0 ? blockingSite(frames) : placeholderSite(stackId === 0 || this.stacks.has(stackId) ? '(no JavaScript on the stack)' : `(stack ${stackId}, not defined in the trace)`);
  }

  /** "function (script:line:column)" per frame, as recorded (not source-mapped). */
  recordedText(stackId: number): string[] {
    return this.frames(stackId).map((f) => `${functionName(f)} (${f.url === '' ? '<no script>' : f.url}:${f.line}:${f.column})`);
  }
}

export function functionName(frame: CallFrame): string {
  return frame.function === '' ? '(anonymous)' : frame.function;
}

/** Where a frame's code is, as people read it: the source-mapped position if any, file: URLs as paths. */
export function frameLocation(frame: CallFrame, withColumn = true): string {
  if (frame.original !== null) return `${frame.original.source}:${frame.original.line}${withColumn ? `:${frame.original.column}` : ''}`;
  if (frame.url === '') return '';
  if (frame.line === 0) return displayScript(frame.url);
  return `${displayScript(frame.url)}:${frame.line}${withColumn && frame.column > 0 ? `:${frame.column}` : ''}`;
}

/** "name location", or the name alone for a frame without a script. */
export function frameText(frame: CallFrame): string {
  const where = frameLocation(frame);
  return where === '' ? functionName(frame) : `${functionName(frame)} ${where}`;
}

function placeholderSite(text: string): BlockingSite {
  return { frame: { function: text, url: '', line: 0, column: 0, original: null }, above: [], text };
}

/** The blocking site of a stack: its innermost user frame, and the frames above it. */
export function blockingSite(frames: readonly CallFrame[]): BlockingSite {
  if (frames.length === 0) return placeholderSite('(no JavaScript on the stack)');
  let i = frames.findIndex(isUserFrame);
  if (i < 0) i = 0;
  const frame = frames[i]!;
  const above = frames.slice(0, i);
  return { frame, above, text: [...above.map(functionName), frameText(frame)].join(' ← ') };
}

/** The stack line of a task: the site, then up to `callers` callers below it, "…" when there are more. */
export function stackLine(frames: readonly CallFrame[], callers: number): string {
  const site = blockingSite(frames);
  const i = site.above.length;
  const rest = frames.slice(i + 1, i + 1 + callers).map(frameText);
  const more = frames.length > i + 1 + callers ? ' …' : '';
  return [site.text, ...rest].join(' ← ') + more;
}

interface Weight {
  samples: number;
  weightNs: number;
}

type SiteWeight = { site: BlockingSite; hottestNs: number } & Weight;

/** Adds a stack's weight to `key`'s entry; the entry is named by the site of its hottest stack. */
function addSiteWeight(entries: Map<string, SiteWeight>, key: string, site: BlockingSite, w: Weight): void {
  const e = entries.get(key);
  if (e === undefined) {
    entries.set(key, { site, samples: w.samples, weightNs: w.weightNs, hottestNs: w.weightNs });
    return;
  }
  e.samples += w.samples;
  e.weightNs += w.weightNs;
  if (w.weightNs > e.hottestNs) {
    e.hottestNs = w.weightNs;
    e.site = site;
  }
}

/** Sums the samples of every long task by stack, across threads and for each thread. */
export class BlockingCodeCollector {
  private readonly byStack = new Map<number, Weight>();
  private readonly byThread = new Map<number, Map<number, Weight>>();
  private longTasks = 0;
  private samples = 0;
  private sampledNs = 0;
  /** Per thread: sampled time of its long tasks. */
  private readonly threadSampledNs = new Map<number, number>();
  /** Per thread: its sampled long tasks and samples, for a report limited to some threads. */
  private readonly threadCounts = new Map<number, { longTasks: number; samples: number }>();

  add(run: BusyRun): void {
    const s = run.samples;
    if (s === null || s.samples === 0) return;
    this.longTasks++;
    this.samples += s.samples;
    this.sampledNs += s.sampledNs;
    this.threadSampledNs.set(run.threadId, (this.threadSampledNs.get(run.threadId) ?? 0) + s.sampledNs);
    const counts = this.threadCounts.get(run.threadId);
    if (counts === undefined) this.threadCounts.set(run.threadId, { longTasks: 1, samples: s.samples });
    else {
      counts.longTasks++;
      counts.samples += s.samples;
    }
    let mine = this.byThread.get(run.threadId);
    if (mine === undefined) this.byThread.set(run.threadId, (mine = new Map()));
    for (const w of s.stacks) {
      addWeight(this.byStack, w.stackId, w.samples, w.weightNs);
      addWeight(mine, w.stackId, w.samples, w.weightNs);
    }
  }

  /** All long tasks together, or only those of the selected threads. */
  report(stacks: StackResolver, selected?: (threadId: number) => boolean): BlockingCodeReport {
    let byStack = this.byStack;
    let total = this.sampledNs;
    let longTasks = this.longTasks;
    let samples = this.samples;
    if (selected !== undefined) {
      byStack = new Map();
      total = 0;
      longTasks = 0;
      samples = 0;
      for (const [threadId, mine] of this.byThread) {
        if (!selected(threadId)) continue;
        for (const [stackId, w] of mine) addWeight(byStack, stackId, w.samples, w.weightNs);
        total += this.threadSampledNs.get(threadId) ?? 0;
        longTasks += this.threadCounts.get(threadId)?.longTasks ?? 0;
        samples += this.threadCounts.get(threadId)?.samples ?? 0;
      }
    }
    const self = new Map<string, SiteWeight>();
    const any = new Map<string, SiteWeight>();
    for (const [stackId, w] of byStack) {
      const frames = stacks.frames(stackId);
      const site = stacks.site(stackId);
      const key = siteKey(site);
      addSiteWeight(self, key, site, w);
      // Total time: each function once per sample, however often it recurs on the stack.
      const seen = new Set<string>();
      for (const frame of frames) {
        const fk = `${frame.function}\u0000${frame.url}`;
        if (seen.has(fk)) continue;
        seen.add(fk);
        addSiteWeight(any, fk, { frame, above: [], text: frameText(frame) }, w);
      }
    }
    const entries = (m: Map<string, { site: BlockingSite } & Weight>): BlockingCodeEntry[] =>
      [...m.values()]
        .sort((a, b) => b.weightNs - a.weightNs || b.samples - a.samples || (a.site.text < b.site.text ? -1 : 1))
        .slice(0, MAX_BLOCKING_ENTRIES)
        .map((e) => ({ site: e.site, samples: e.samples, weightNs: e.weightNs, share: total > 0 ? e.weightNs / total : 0 }));
    return { longTasks, samples, sampledNs: total, self: entries(self), total: entries(any) };
  }

  /** The site that took most of a thread's sampled long-task time, with its share; undefined without samples. */
  topSite(threadId: number, stacks: StackResolver): { site: BlockingSite; weightNs: number; share: number } | undefined {
    const mine = this.byThread.get(threadId);
    const totalNs = this.threadSampledNs.get(threadId) ?? 0;
    if (mine === undefined || totalNs <= 0) return undefined;
    const sites = new Map<string, { site: BlockingSite; weightNs: number }>();
    for (const [stackId, w] of mine) {
      const site = stacks.site(stackId);
      const key = siteKey(site);
      const e = sites.get(key);
      if (e === undefined) sites.set(key, { site, weightNs: w.weightNs });
      else e.weightNs += w.weightNs;
    }
    let best: { site: BlockingSite; weightNs: number } | undefined;
    for (const e of sites.values()) if (best === undefined || e.weightNs > best.weightNs) best = e;
    return best === undefined ? undefined : { ...best, share: best.weightNs / totalNs };
  }
}

function addWeight(m: Map<number, Weight>, stackId: number, samples: number, weightNs: number): void {
  const e = m.get(stackId);
  if (e === undefined) m.set(stackId, { samples, weightNs });
  else {
    e.samples += samples;
    e.weightNs += weightNs;
  }
}

/** Sites are the same when their frames name the same functions in the same scripts; lines may differ. */
function siteKey(site: BlockingSite): string {
  return [...site.above, site.frame].map((f) => `${f.function}\u0000${f.url}`).join('\u0001');
}
