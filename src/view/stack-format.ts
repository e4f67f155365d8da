// A stack definition as text lines, "function (script:line:column)", innermost first: the same
// wording as analyze-trace's long-task attribution. Runs in Node and in the browser.

import type { StackFrame } from '../format/records.js';

export function formatStack(frames: readonly StackFrame[] | undefined, strings: ReadonlyMap<number, string>): string[] {
  if (frames === undefined) return [];
  return frames.map((f) => {
    const fn = strings.get(f.functionNameStringId) || '(anonymous)';
    const script = strings.get(f.scriptStringId) || `script ${f.scriptStringId}`;
    return `${fn} (${script}:${f.line}:${f.column})`;
  });
}

/** V8's GCType bits (docs/FORMAT.md 6.2) as a slice name. */
export function gcName(gcType: number): string {
  switch (gcType) {
    case 1:
      return 'GC scavenge';
    case 2:
      return 'GC mark-sweep-compact';
    case 4:
      return 'GC incremental marking';
    case 8:
      return 'GC weak callbacks';
    case 16:
      return 'GC minor mark-sweep';
    default:
      return 'GC';
  }
}
