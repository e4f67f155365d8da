// Isolation of every call into OpenTelemetry code: an error there (a throwing exporter, a broken
// provider) is counted and reported once per place, and never reaches the application.

export class Guard {
  /** Calls into OpenTelemetry code that threw or rejected. */
  errors = 0;
  private readonly reported = new Set<string>();

  constructor(private readonly onError: (error: unknown, where: string) => void) {}

  run<T>(where: string, call: () => T): T | undefined {
    try {
      const result = call();
      if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
        (result as unknown as Promise<unknown>).then(undefined, (error: unknown) => this.failed(error, where));
      }
      return result;
    } catch (error) {
      this.failed(error, where);
      return undefined;
    }
  }

  async runAsync(where: string, call: () => unknown): Promise<void> {
    try {
      await call();
    } catch (error) {
      this.failed(error, where);
    }
  }

  failed(error: unknown, where: string): void {
    this.errors++;
    if (this.reported.has(where)) return;
    this.reported.add(where);
    try {
      this.onError(error, where);
    } catch {
      // The reporter itself must not reach the application either.
    }
  }
}
