// The async context that carries the current operation: one AsyncLocalStorage per thread.

import { AsyncLocalStorage } from 'node:async_hooks';
import type { Operation } from './operation.js';

export const operationStorage = new AsyncLocalStorage<Operation>();

/** The operation whose async context the caller runs in, or undefined. */
export function currentOperation(): Operation | undefined {
  return operationStorage.getStore();
}
