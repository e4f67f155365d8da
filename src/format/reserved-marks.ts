// MARK names that looptrace itself writes (docs/FORMAT.md 6.2, "Reserved marks"), and what a
// reader says about them. Names starting with "looptrace:" are reserved for the recorder.

/** A worker that was created but could not be traced; the mark's value is its worker_threads id. */
export const UNTRACED_WORKER_MARK = 'looptrace:untraced-worker';

/** The sentence stats() and analyze-trace use for untraced workers. */
export function untracedWorkersMessage(count: number): string {
  return `${count} worker${count === 1 ? ' was' : 's were'} not traced; start looptrace before taking Worker, or use --import looptrace/register`;
}
