// Keeps the trace when the process ends: on natural exit, process.exit() and an uncaught
// exception (all of which emit 'exit'), and on SIGTERM and SIGINT. The application's own exit
// behaviour is kept: when it listens for a signal itself, it stays in charge of that signal.

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

export interface ExitHandlers {
  remove(): void;
}

export function installExitHandlers(flush: () => void): ExitHandlers {
  const onExit = (): void => flush();
  const onSignal = (signal: NodeJS.Signals): void => {
    // With a listener of its own, the application decides what the signal does; when it exits,
    // 'exit' flushes. With only ours, the default was to die by the signal: flush, restore the
    // default and re-raise, so the exit status stays the same.
    if (process.listenerCount(signal) !== 1) return;
    flush();
    remove();
    process.kill(process.pid, signal);
  };
  function remove(): void {
    process.removeListener('exit', onExit);
    for (const signal of SIGNALS) process.removeListener(signal, onSignal);
  }
  process.on('exit', onExit);
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return { remove };
}

/**
 * A worker that ends by itself emits 'exit'; worker.terminate() does not. Marking the thread on
 * 'exit' lets its THREAD_STOP say which of the two happened.
 */
export function markExitOnExit(binding: { markThreadExiting(): void }): void {
  process.once('exit', () => binding.markThreadExiting());
}
