// Thread selection for --thread and per-thread --fail-on: glob patterns over thread names ("main",
// "worker*", "worker ? (pool.mjs)"). "main" also picks the main thread whatever its name, so a
// renamed main thread is still found. A pattern that cannot select anything is refused up front.

export class ThreadPatternError extends Error {
  override name = 'ThreadPatternError';
}

export interface SelectableThread {
  name: string;
  /** 'main', 'worker' or 'unknown', as ThreadReport.kind. */
  kind: string;
}

/** A predicate over threads that holds when any pattern matches the thread's name. */
export function threadMatcher(patterns: readonly string[]): (t: SelectableThread) => boolean {
  const regexps = patterns.map(globRegExp);
  const wantsMain = patterns.includes('main');
  return (t) => (wantsMain && t.kind === 'main') || regexps.some((re) => re.test(t.name));
}

/** Checks one pattern; throws ThreadPatternError naming it. */
export function checkThreadPattern(pattern: string): string {
  if (typeof pattern !== 'string' || pattern.trim() === '') throw new ThreadPatternError(`a thread pattern cannot be empty (give a name or a glob such as main or 'worker*'), got ${JSON.stringify(pattern)}`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(pattern)) throw new ThreadPatternError(`a thread pattern cannot hold control characters, got ${JSON.stringify(pattern)}`);
  return pattern;
}

function globRegExp(pattern: string): RegExp {
  let source = '';
  for (const c of pattern) source += c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.+()[\]{}|]/g, '\\$&');
  return new RegExp(`^${source}$`, 's');
}
