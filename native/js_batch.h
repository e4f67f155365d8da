#ifndef LOOPTRACE_NATIVE_JS_BATCH_H_
#define LOOPTRACE_NATIVE_JS_BATCH_H_

// Records from JavaScript without a call into the addon per record. JavaScript stages operation
// and callback records, stamped with performance.now(), in a Float64Array it owns and has handed
// to this thread's hooks; the hooks move them into the thread's ring before writing any record
// of their own (prepare, check, timers, GC pauses, stack samples), so that the thread's records
// stay in time order. JavaScript calls flushRecords() only when the batch is full.
//
// Layout (doubles; src/operations/record-batch.ts writes it):
//   [0]           count: slots written since the last reset (JavaScript increments it after
//                 writing a slot, so a half-written slot is never counted)
//   [1..7]        reserved
//   slot i at 8 + 8 * i, 64 bytes:
//     [0] code | traceFlags << 8   record type (CALLBACK_START, CALLBACK_END, OPERATION_START,
//                                  OPERATION_END); traceFlags only for OPERATION_START
//     [1] performance.now() in ms  converted with the origin JavaScript measured
//     [2] f0, [3] f1               the record's fields (CALLBACK_END: asyncId, operationId)
//     bytes 32..63                 OPERATION_START: trace id (16), span id (8), parent span id (8)
//
// Only the loop's thread touches the batch. A drain from inside JavaScript (a GC epilogue, a
// stack-sample interrupt) may come between two statements of a slot write, so it only moves its
// read position; the count is reset only where no JavaScript is running (the loop's own hooks,
// flushRecords(), pushRecord()).

#include <node_api.h>

#include <cstddef>
#include <cstdint>

#include "definitions.h"
#include "ring.h"

namespace looptrace {

class JsBatch {
 public:
  static constexpr size_t kHeaderDoubles = 8;
  static constexpr size_t kSlotDoubles = 8;
  static constexpr size_t kMaxSlots = 1 << 16;

  // Takes `array_buffer`'s memory (a strong reference keeps it alive). False when its size is
  // not a header plus a whole number of slots. `origin_ns` is uv_hrtime() at performance.now() 0.
  bool Attach(napi_env env, napi_value array_buffer, uint64_t origin_ns);
  bool Attached(napi_env env, napi_value array_buffer) const;
  void Release(napi_env env);

  // Moves the staged records into `ring`. Records stamped before `not_before_ns` (recording
  // resumed after them) are dropped. Times are kept from `floor_ns` (the time of the thread's
  // latest record before them: JavaScript's clock origin is measured to within tens of
  // nanoseconds, so a record staged right after it can read a little earlier) to `now_ns`, and
  // in order. `reset` clears the count: only where no JavaScript is on the stack.
  void Drain(Ring* ring, Definitions& defs, uint64_t now_ns, uint64_t floor_ns, uint64_t not_before_ns,
             bool reset);
  // Forgets the staged records (recording is paused or stopped).
  void Discard(bool reset);

  // JavaScript writes the count; anything but a whole number above read_ reads as empty here and
  // is judged by Drain().
  bool empty() const { return data_ == nullptr || !(data_[0] > static_cast<double>(read_)); }

 private:
  double* data_ = nullptr;
  size_t slots_ = 0;
  size_t read_ = 0;
  uint64_t origin_ns_ = 0;
  napi_ref ref_ = nullptr;
};

}  // namespace looptrace

#endif  // LOOPTRACE_NATIVE_JS_BATCH_H_
