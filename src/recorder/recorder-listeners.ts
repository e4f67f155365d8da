// Listeners inside the package (the OpenTelemetry bridge) that must hear when a trace starts on
// this thread and when the writer thread wakes JavaScript. Not public API.

const started = new Set<() => void>();
const notified = new Set<() => void>();

/** Calls `listener` after each trace start on this thread; returns the remover. */
export function onTraceStarted(listener: () => void): () => void {
  started.add(listener);
  return () => started.delete(listener);
}

/** Calls `listener` each time the writer thread wakes this thread's JavaScript; returns the remover. */
export function onWriterNotify(listener: () => void): () => void {
  notified.add(listener);
  return () => notified.delete(listener);
}

export function traceStarted(): void {
  call(started);
}

export function writerNotified(): void {
  call(notified);
}

function call(listeners: Set<() => void>): void {
  for (const listener of listeners) {
    try {
      listener();
    } catch {
      // A listener's failure is its own (the bridge counts its errors); the recorder goes on.
    }
  }
}
