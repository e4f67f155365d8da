#ifndef LOOPTRACE_NATIVE_THREAD_METRICS_H_
#define LOOPTRACE_NATIVE_THREAD_METRICS_H_

// Per-thread aggregates for the OpenTelemetry bridge (src/otel): event-loop time, busy-stretch,
// GC and threadpool-delay histograms, long tasks. They are computed by the writer thread from
// the records it drains anyway, so a loop thread does no extra work for them; they are kept only
// while the bridge asked for them (Recorder::SetAggregation). JavaScript reads them under the
// thread's lock at metric-collection time.

#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>

#include "definitions.h"
#include "ring.h"

namespace looptrace {

// A log-linear histogram of nanosecond values: bucket 0 holds values under 1024 ns, then 8
// buckets per power of two (each at most 12.5% wide) up to 2^42 ns (73 min), the last bucket
// holding everything above. Each bucket keeps its count and the exact sum of its values, so that
// a reader can replay the values without losing the sum. src/otel/histogram.ts mirrors Index().
struct NsHistogram {
  static constexpr int kSubBuckets = 8;
  static constexpr int kMinShift = 10;
  static constexpr int kOctaves = 32;
  static constexpr int kBuckets = 1 + kOctaves * kSubBuckets;

  uint64_t counts[kBuckets] = {};
  double sums[kBuckets] = {};
  uint64_t count = 0;

  static int Index(uint64_t ns) {
    if (ns < (1ull << kMinShift)) return 0;
    int msb = 63 - __builtin_clzll(ns);
    int octave = msb - kMinShift;
    if (octave >= kOctaves) return kBuckets - 1;
    int sub = static_cast<int>((ns >> (msb - 3)) & (kSubBuckets - 1));
    return 1 + octave * kSubBuckets + sub;
  }
  void Add(uint64_t ns) {
    int i = Index(ns);
    counts[i]++;
    sums[i] += static_cast<double>(ns);
    count++;
  }
};

// V8's GCType bits (docs/FORMAT.md GC_PAUSE) folded into the semantic conventions' v8js.gc.type:
// 0 minor (scavenge, minor mark-compact), 1 major, 2 incremental, 3 weakcb.
inline int GcKind(uint32_t gc_type) {
  if (gc_type & 4) return 1;
  if (gc_type & 8) return 2;
  if (gc_type & 16) return 3;
  return 0;
}

// What JavaScript reads: cumulative since aggregation was turned on for this thread.
struct ThreadAggregates {
  uint64_t active_ns = 0;
  uint64_t idle_ns = 0;
  uint64_t iterations = 0;
  uint64_t long_tasks = 0;
  uint64_t long_task_ns = 0;
  uint64_t events = 0;
  // Events that were already waiting when the latest poll began (POLL_END's third field).
  uint64_t last_events_waiting = 0;
  NsHistogram stretches;
  NsHistogram gc[4];
  NsHistogram threadpool_delay;
};

// One long task, for the bridge's spans. Times are wall-clock Unix nanoseconds.
struct LongTask {
  uint32_t thread_id = 0;
  uint32_t node_thread_id = 0;
  std::string thread_name;
  uint64_t start_unix_ns = 0;
  uint64_t end_unix_ns = 0;
  uint64_t io_ns = 0;
  uint64_t cpu_ns = 0;
  uint64_t cpu_wall_ns = 0;
  uint64_t runnable_ns = 0;
  uint64_t gc_ns = 0;
  // The blocking site: the application frame seen in most of the task's stack samples.
  bool has_frame = false;
  Encoder::StackFrame frame = {};
  uint64_t stack_samples = 0;
  // The operation that was running (the latest one started and not ended before the stretch
  // began, or started inside it), 0 for none.
  uint64_t operation_id = 0;
  // That operation's W3C trace context (docs/FORMAT.md TRACE_CONTEXT), when it had one.
  bool has_context = false;
  uint8_t context[Definitions::kTraceContextBytes] = {};
};

// The writer thread's state for one thread's aggregates. Not shared: the writer alone reads and
// writes it; `published` is what readers see, under `mu`.
class ThreadAggregator {
 public:
  // Observes one drained record. `long_task_ns`: a busy stretch this long is a long task.
  // Returns true when `*done` was filled with a long task that just ended.
  // `defs` gives the running operation's trace context, looked up only for a long task.
  bool Observe(const Event& e, uint64_t long_task_ns, const Definitions& defs, LongTask* done);
  // Forgets the loop's position (a gap in the records: DROPPED, RESUMED, aggregation restarted).
  void Forget();
  // A long task waiting for the THREAD_CPU that may follow its POLL_START at the same time.
  bool TakePending(LongTask* out);

  std::mutex mu;
  ThreadAggregates published;  // guarded by mu
  uint64_t epoch = 0;          // the Recorder's aggregation epoch this state belongs to

 private:
  uint64_t poll_start_ns_ = 0;  // open poll phase, or 0
  uint64_t poll_end_ns_ = 0;    // open stretch's POLL_END, or 0
  uint64_t stretch_start_ns_ = 0;
  uint64_t stretch_io_ns_ = 0;
  uint64_t stretch_cpu_ns_ = 0;
  uint64_t stretch_cpu_wall_ns_ = 0;
  uint64_t stretch_runnable_ns_ = 0;
  uint64_t stretch_gc_ns_ = 0;
  // The stretch's distinct sampled stacks and how often each was seen: the blocking site seen
  // most often names the long task (the first sample may catch the code before the blocking
  // call, and the innermost frame may be Node's own code that the blocking function calls).
  static constexpr int kStackSlots = 8;
  uint64_t stretch_stack_ids_[kStackSlots] = {};
  uint32_t stretch_stack_counts_[kStackSlots] = {};
  uint64_t stretch_samples_ = 0;
  // The blocking frame seen in most of the stretch's samples (false when none was sampled).
  bool MostSampledFrame(const Definitions& defs, Encoder::StackFrame* out) const;
  uint64_t stretch_operation_id_ = 0;
  uint64_t running_operation_id_ = 0;
  // The trace context of stretch_operation_id_, taken while it was still defined.
  bool has_context_ = false;
  uint8_t context_[Definitions::kTraceContextBytes] = {};
  bool has_pending_ = false;
  uint64_t pending_time_ns_ = 0;
  LongTask pending_;
  void ResetStretch();
};

}  // namespace looptrace

#endif  // LOOPTRACE_NATIVE_THREAD_METRICS_H_
