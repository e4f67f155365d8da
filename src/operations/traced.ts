// traced(name, fn, options): runs fn as an operation in its own async context, so operations it
// starts (through await, timers, emitters and everything else AsyncLocalStorage follows) become
// its children. The outcome is the function's: a throw or rejection ends the operation as
// failed and is rethrown; an abort of options.signal ends it as cancelled.

import type { Baggage } from './baggage.js';
import { operationStorage } from './context.js';
import { invalidArgument } from './errors.js';
import { Operation, type Attributes, type OperationHooks } from './operation.js';
import { activeRuntime, type IncomingContext } from './runtime.js';
import { MetricsRegistry } from './metrics.js';

export interface TracedOptions {
  /** Attributes set at start (kept when sampled). */
  attributes?: Attributes;
  /** Added to the baggage inherited from the parent; children inherit the result. */
  baggage?: Baggage;
  /** Aborting it ends the operation as cancelled and rejects traced() with signal.reason. */
  signal?: AbortSignal;
  /** Continue a trace from another process: the W3C headers it sent. */
  incoming?: IncomingContext;
  /** Start a new trace even when called inside another operation. Default false. */
  root?: boolean;
}

/** The operation handed to fn when operations are off: every method does nothing. */
const noopHooks: OperationHooks = { ended: () => {} };
const noopStats = new MetricsRegistry(0).statsFor('');
export const NOOP_OPERATION: Operation = new Operation('', 0, '00000000000000000000000000000000', '0000000000000000', undefined, false, false, undefined, undefined, noopStats, noopHooks);

export function traced<T>(name: string, fn: (op: Operation) => T, options?: TracedOptions): T {
  if (typeof name !== 'string' || name.length === 0) throw invalidArgument('traced() name', 'a non-empty string', name);
  if (typeof fn !== 'function') throw invalidArgument(`traced("${name}") fn`, 'a function', fn);
  const runtime = activeRuntime();
  if (runtime === undefined) return fn(NOOP_OPERATION);
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw invalidArgument(`traced("${name}") options`, 'an object', options);
  const signal = options?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArgument(`traced("${name}") options.signal`, 'an AbortSignal', signal);

  const op = runtime.begin(name, operationStorage.getStore(), options?.incoming, options?.baggage, options?.root === true);
  if (options?.attributes !== undefined) op.setAttributes(options.attributes);
  if (signal?.aborted === true) {
    op.end('cancelled', signal.reason);
    throw signal.reason;
  }
  let result: T;
  try {
    result = operationStorage.run(op, fn, op);
  } catch (error) {
    op.end(isAborted(signal) || isAbortError(error) ? 'cancelled' : 'failed', error);
    throw error;
  }
  if (result === null || typeof result !== 'object' || typeof (result as { then?: unknown }).then !== 'function') {
    op.end(isAborted(signal) ? 'cancelled' : 'completed');
    return result;
  }
  return settle(op, result as unknown as PromiseLike<unknown>, signal) as T;
}

function settle(op: Operation, pending: PromiseLike<unknown>, signal: AbortSignal | undefined): Promise<unknown> {
  if (signal === undefined) {
    return Promise.resolve(pending).then(
      (value) => {
        op.end('completed');
        return value;
      },
      (error: unknown) => {
        op.end(isAbortError(error) ? 'cancelled' : 'failed', error);
        throw error;
      },
    );
  }
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      op.end('cancelled', signal.reason);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    Promise.resolve(pending).then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        op.end('completed');
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        op.end(signal.aborted || isAbortError(error) ? 'cancelled' : 'failed', error);
        reject(error);
      },
    );
  });
}

/** Read through a function: fn may have aborted the signal since it was last checked. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal !== undefined && signal.aborted;
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}
