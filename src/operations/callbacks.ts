// Callback mode: for a window of time, every callback the loop runs (timers, I/O, promise
// reactions, immediates, ...) is recorded with its start, its end, its async resource type and
// the operation it ran for. Off by default: it costs an async_hooks hook per callback while on,
// and nothing when off (the hook is disabled, not just ignored).

import { createHook, executionAsyncResource, type AsyncHook } from 'node:async_hooks';
import { operationStorage } from './context.js';
import { invalidArgument } from './errors.js';

/** Where callback records go: the trace (CALLBACK_START / CALLBACK_END) or a test's memory. */
export interface CallbackSink {
  /** A small id for a resource type (an interned string in the trace; 0: none). */
  resourceTypeId(resourceType: string): number;
  callbackStart(asyncId: number, resourceTypeId: number): void;
  /** `operationId`: the operation the callback ran for, as it ended (0: none). */
  callbackEnd(asyncId: number, operationId: number): void;
}

export interface CallbackWindow {
  /** Resolves when the window closes, with what it saw. */
  done: Promise<{ callbacks: number; durationMs: number }>;
  /** Closes the window now. */
  stop(): void;
}

/** The longest window one call may ask for: callback mode is for looking closely, not for always. */
export const MAX_CALLBACK_WINDOW_MS = 10 * 60_000;

// Resource types by async id, for before(): a direct-mapped table of the latest resources (async
// ids are consecutive), written at init with two typed-array stores. Resources that outlive their
// slot (a server handle, a keep-alive socket) are found by a type stamped on the resource object;
// promises, the most numerous and the shortest-lived, are not stamped, since a property store on
// objects of many shapes costs more than the table.
const TYPE_SLOTS = 1 << 14;
const TYPE_MASK = TYPE_SLOTS - 1;
const kType = Symbol('looptrace.asyncType');

export class CallbackRecorder {
  private readonly sink: CallbackSink;
  private hook: AsyncHook | undefined;
  private timer: NodeJS.Timeout | undefined;
  private callbacks = 0;
  private startedMs = 0;
  private resolveDone: ((value: { callbacks: number; durationMs: number }) => void) | undefined;
  private readonly onError: (error: unknown) => void;

  constructor(sink: CallbackSink, onError: (error: unknown) => void) {
    this.sink = sink;
    this.onError = onError;
  }

  get recording(): boolean {
    return this.hook !== undefined;
  }

  /** Opens a window of durationMs; a window already open is extended to end durationMs from now. */
  record(durationMs: number): CallbackWindow {
    if (typeof durationMs !== 'number' || !Number.isFinite(durationMs) || durationMs <= 0 || durationMs > MAX_CALLBACK_WINDOW_MS) {
      throw invalidArgument('recordCallbacks() durationMs', `a number of milliseconds above 0 and at most ${MAX_CALLBACK_WINDOW_MS}`, durationMs);
    }
    if (this.hook === undefined) {
      this.callbacks = 0;
      this.startedMs = performance.now();
      const sink = this.sink;
      const self = this;
      // Resource types are few (a few dozen) and come in runs: the last one answers most lookups.
      const typeIds = new Map<string, number>();
      let lastType = '';
      let lastTypeId = 0;
      const typeIdOf = (type: string): number => {
        if (type === lastType) return lastTypeId;
        let id = typeIds.get(type);
        if (id === undefined) {
          id = sink.resourceTypeId(type);
          // 0: no trace to intern it in yet; asked again next time.
          if (id === 0) return 0;
          typeIds.set(type, id);
        }
        lastType = type;
        lastTypeId = id;
        return id;
      };
      // Allocated per window, dropped when it closes (160 KiB).
      const slotIds = new Float64Array(TYPE_SLOTS);
      const slotTypes = new Uint32Array(TYPE_SLOTS);
      this.hook = createHook({
        init(asyncId, type, _trigger, resource) {
          try {
            const slot = asyncId & TYPE_MASK;
            slotIds[slot] = asyncId;
            slotTypes[slot] = typeIdOf(type);
            if (type !== 'PROMISE' && typeof resource === 'object' && resource !== null) (resource as Record<symbol, string>)[kType] = type;
          } catch (error) {
            self.fail(error);
          }
        },
        before(asyncId) {
          self.callbacks++;
          try {
            const slot = asyncId & TYPE_MASK;
            let typeId = slotIds[slot] === asyncId ? slotTypes[slot]! : 0;
            if (typeId === 0) typeId = typeIdOf((executionAsyncResource() as Record<symbol, string | undefined>)[kType] ?? 'UNKNOWN');
            sink.callbackStart(asyncId, typeId);
          } catch (error) {
            self.fail(error);
          }
        },
        after(asyncId) {
          try {
            // The operation as the callback ends: an incoming request's operation is entered
            // inside the callback that parsed it.
            const op = operationStorage.getStore();
            sink.callbackEnd(asyncId, op === undefined ? 0 : op.operationId);
          } catch (error) {
            self.fail(error);
          }
        },
      });
      this.hook.enable();
    }
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.close(), durationMs);
    this.timer.unref();
    const done = new Promise<{ callbacks: number; durationMs: number }>((resolve) => {
      const previous = this.resolveDone;
      this.resolveDone = (value) => {
        previous?.(value);
        resolve(value);
      };
    });
    return { done, stop: () => this.close() };
  }

  /** Closes the window: the hook is disabled, so the loop pays nothing any more. */
  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.hook === undefined) return;
    this.hook.disable();
    this.hook = undefined;
    const resolve = this.resolveDone;
    this.resolveDone = undefined;
    resolve?.({ callbacks: this.callbacks, durationMs: performance.now() - this.startedMs });
  }

  private failing = false;

  private fail(error: unknown): void {
    // A sink that throws (the trace has stopped) ends the window; the application goes on.
    if (this.failing) return;
    this.failing = true;
    setImmediate(() => {
      this.failing = false;
      this.close();
    });
    this.onError(error);
  }
}
