#ifndef LOOPTRACE_NATIVE_RECORDER_H_
#define LOOPTRACE_NATIVE_RECORDER_H_

// The process-wide recorder: one per process, shared by every event loop (the main thread's and
// each worker's). Loop threads push events into their own ring; one writer thread drains the
// rings, encodes frames and hands them to the sink.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "attribution_api.h"
#include "definitions.h"
#include "encoder.h"
#include "ring.h"
#include "sinks.h"
#include "thread_metrics.h"
#include "watchdog.h"

namespace looptrace {

struct Config {
  uint64_t flush_interval_ns = 100'000'000;
  uint64_t queue_sample_interval_ms = 100;
  uint64_t threadpool_probe_interval_ms = 50;
  uint64_t cpu_threshold_ns = 2'000'000;
  size_t ring_capacity = 8192;
  size_t target_frame_bytes = wire::kTargetFrameBodyBytes;
  uint64_t origin_mono_ns = 0;
  uint64_t origin_wall_unix_ns = 0;
  uint8_t trace_id[16] = {};
  uint64_t pid = 0;
  uint64_t threadpool_size = 0;
  std::string hostname;
  std::string node_version;
  std::string service_name;
  std::string producer;
  std::string platform;
  // Attribution (docs/FORMAT.md header keys 13-15). `attribution` is the V8 part's table, or
  // nullptr when it did not load; `attribution_note` then says why.
  const LtAttributionApi* attribution = nullptr;
  std::string attribution_note;
  uint64_t stack_threshold_ns = 0;  // 0: no stack sampling
  uint64_t stack_interval_ns = 10'000'000;
  uint32_t stack_max_frames = 32;
  bool gc_pauses = false;
  bool schedstat = false;
  // Header key 13.
  uint64_t Capabilities() const {
    return (schedstat ? 1u : 0u) | (attribution != nullptr && stack_threshold_ns > 0 ? 2u : 0u) |
           (attribution != nullptr && gc_pauses ? 4u : 0u);
  }
};

struct ThreadState {
  ThreadState(uint32_t id, uint32_t node_id, uint32_t thread_kind, std::string thread_name,
              size_t ring_capacity, uint64_t start_ns)
      : thread_id(id), node_thread_id(node_id), kind(thread_kind), name(std::move(thread_name)),
        start_mono_ns(start_ns), ring(ring_capacity) {}

  const uint32_t thread_id;
  const uint32_t node_thread_id;
  const uint32_t kind;
  const std::string name;
  const uint64_t start_mono_ns;
  Ring ring;
  // Cleared when the recorder stops or fails: the loop's hooks then record nothing.
  std::atomic<bool> recording{true};
  // Set by the loop thread at teardown; the writer drains what is left, then lets go.
  std::atomic<bool> closed{false};
  // The THREAD_STOP reason written once closed: 0 the thread exited, 2 telemetry stopped.
  std::atomic<uint32_t> stop_reason{0};
  // Self-accounting (docs/FORMAT.md SELF_COST): CPU time this loop spent in looptrace's code,
  // stored by the loop thread only (plain stores, no read-modify-write), read by the writer.
  // hooks_ns is an estimate: hook calls times the mean of sampled hook timings.
  std::atomic<uint64_t> hooks_ns{0};
  std::atomic<uint64_t> timers_ns{0};
  std::atomic<uint64_t> stacks_ns{0};

  // Writer thread only.
  Encoder enc;
  uint64_t announced_generation = 0;
  bool start_announced = false;
  // THREAD_STOP written: the thread has no more records, and later files leave it out.
  bool stop_written = false;
  // What the last SELF_COST records of this thread covered.
  uint64_t reported_hooks_ns = 0;
  uint64_t reported_timers_ns = 0;
  uint64_t reported_stacks_ns = 0;
  // Aggregates for the OpenTelemetry bridge, kept by the writer while it asks for them.
  ThreadAggregator agg;
};

// looptrace's own CPU time, by part (stats().selfCpu, SELF_COST components).
struct SelfCost {
  uint64_t writer_ns = 0;
  uint64_t watchdog_ns = 0;
  uint64_t hooks_ns = 0;
  uint64_t timers_ns = 0;
  uint64_t stacks_ns = 0;
  // The whole process's CPU time since the recorder opened (CLOCK_PROCESS_CPUTIME_ID).
  uint64_t process_ns = 0;
  uint64_t Total() const { return writer_ns + watchdog_ns + hooks_ns + timers_ns + stacks_ns; }
};

struct Stats {
  uint64_t records = 0;
  uint64_t bytes = 0;
  uint64_t frames = 0;
  uint64_t dropped_records = 0;
  uint64_t dropped_bytes = 0;
  uint64_t files = 0;
  uint64_t threads = 0;
  uint64_t errors = 0;
  uint64_t main_records = 0;
  uint64_t stack_samples = 0;
  uint64_t stack_sample_ns = 0;
  SelfCost self;
};

// Bit 0: enabled. The rest counts enable() calls, so hooks notice that recording resumed.
extern std::atomic<uint32_t> g_record_state;

class Recorder : public std::enable_shared_from_this<Recorder> {
 public:
  // Creates a recorder that is not yet writing; threads added now are in the first header.
  static std::shared_ptr<Recorder> Create(const Config& config, std::unique_ptr<Sink> sink,
                                          std::function<void()> notify);
  // Opens the sink on the calling thread (so a bad path fails here), then starts the writer and
  // makes this the process's current recorder.
  bool Open(std::string* error);
  static std::shared_ptr<Recorder> Current();

  ~Recorder();

  // Registers the calling thread's loop. kind: 0 main, 1 worker.
  std::shared_ptr<ThreadState> AddThread(uint32_t node_thread_id, uint32_t kind,
                                         const std::string& name, bool is_main_thread);
  // Drains every ring, writes and closes the sink, and joins the writer. Idempotent.
  void Stop();
  Stats GetStats();
  // The first failure, or "" when none.
  std::string Error();
  const Config& config() const { return config_; }
  // Wakes a writer that sleeps while telemetry is disabled: recording resumed, or a thread
  // closed and its THREAD_STOP is due.
  void Wake();
  // The writer parks when a pass found nothing to write and everything is flushed. A loop
  // thread that has just pushed records checks this flag (one load) and, if set, wakes it
  // (WakeWriter(): once per park, an eventfd write). The writer parks with a process-wide memory
  // barrier (membarrier) between setting the flag and its last look at the rings, so that the
  // producers need no fence: either a producer sees the flag or the writer sees its records.
  const std::atomic<bool>* writer_parked_flag() const { return &writer_parked_; }
  void WakeWriter() {
    if (writer_parked_.exchange(false, std::memory_order_seq_cst)) SignalWriter();
  }
  // A loop thread whose ring is half full: the writer's wait, sized for the rate it saw, is too
  // long for this burst. Wakes it from its timed wait (a futex wake; a parked writer is woken by
  // WakeWriter()). Rare: at most once per half a ring of records.
  void HurryWriter() { cv_.notify_all(); }
  // Strings, stacks and trace contexts; any thread may intern.
  Definitions& definitions() { return defs_; }
  // A stack sample taken on some loop thread, and the loop time it took.
  void CountStackSample(uint64_t cost_ns) {
    stack_samples_.fetch_add(1, std::memory_order_relaxed);
    stack_sample_ns_.fetch_add(cost_ns, std::memory_order_relaxed);
  }
  // The stack watchdog, or nullptr when stacks are not sampled.
  Watchdog* watchdog() { return watchdog_.get(); }
  uint64_t generation() const { return generation_; }
  // The OpenTelemetry bridge (src/otel): turns the per-thread aggregates on (starting from zero)
  // or off. long_task_ns: a busy stretch this long is queued as a long task (0: none queued);
  // notify: wake JavaScript (the notify callback) when one was queued.
  void SetAggregation(bool on, uint64_t long_task_ns, bool notify);
  bool aggregating() const { return aggregation_epoch_.load(std::memory_order_relaxed) != 0; }
  // Calls fn(thread, aggregates) for each registered thread whose aggregates belong to the current
  // epoch, under that thread's aggregate lock (a thread leaves the list once its THREAD_STOP is
  // written).
  template <typename Fn>
  void ForEachAggregate(Fn&& fn) {
    std::vector<std::shared_ptr<ThreadState>> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      threads = threads_;
    }
    uint64_t epoch = aggregation_epoch_.load(std::memory_order_relaxed);
    for (auto& t : threads) {
      std::lock_guard<std::mutex> lock(t->agg.mu);
      if (t->agg.epoch != epoch) continue;
      fn(*t, static_cast<const ThreadAggregates&>(t->agg.published));
    }
  }
  // Takes the queued long tasks; *dropped gets how many did not fit in the queue so far.
  std::deque<LongTask> TakeLongTasks(uint64_t* dropped);

 private:
  Recorder(const Config& config, std::unique_ptr<Sink> sink, std::function<void()> notify);
  void Run();
  // Parks the writer until a producer, Wake() or Stop() signals it; returns at once (false) when a ring
  // turns out to have records after all.
  bool Park();
  bool AnyRecords();
  void SignalWriter();
  void Cycle(bool flush);
  void Drain(ThreadState& t, uint64_t head);
  void Aggregate(ThreadState& t, const Event* events, size_t n, uint64_t epoch);
  void QueueLongTask(ThreadState& t, LongTask task);
  void CloseFrame(ThreadState& t);
  bool WriteFrame(const Encoder& enc);
  void WriteProcessFrame(const std::function<void(Encoder&)>& fill);
  void Announce(ThreadState& t);
  void Preamble(Encoder& enc, uint64_t file_index);
  uint64_t Relative(uint64_t mono_ns) const {
    return mono_ns > config_.origin_mono_ns ? mono_ns - config_.origin_mono_ns : 0;
  }
  void Fail(const std::string& message);
  // Writes the SELF_COST records of the process stream and of each thread in `threads`.
  void WriteSelfCost(uint64_t now, const std::vector<std::shared_ptr<ThreadState>>& threads);
  // Reads the writer thread's CPU clock into writer_cpu_ns_ and returns it (writer thread only).
  uint64_t NoteWriterCpu();

  const Config config_;
  const uint64_t generation_;
  std::unique_ptr<Sink> sink_;
  std::function<void()> notify_;
  Definitions defs_;
  std::unique_ptr<Watchdog> watchdog_;

  std::mutex mu_;  // guards threads_, error_, stop_requested_, next_thread_id_
  std::condition_variable cv_;
  std::vector<std::shared_ptr<ThreadState>> threads_;
  uint32_t next_thread_id_ = 2;
  bool stop_requested_ = false;
  std::string error_;
  bool wake_requested_ = false;
  std::thread writer_;
  std::once_flag stop_once_;

  // Writer thread only.
  bool failed_ = false;
  bool stopping_ = false;
  // The most records the last pass drained from one ring: the next wait aims at an eighth of a
  // ring (Run()).
  size_t fullest_drained_ = 0;
  size_t LargestBacklog();
  // Frames are open in some encoder; frames were written since the sink's last flush. After a
  // flush with neither, nothing is waiting to be written: park.
  bool frames_open_ = false;
  bool unflushed_ = false;
  bool park_ = false;
  bool force_flush_ = false;
  uint64_t wait_ns_ = 0;
  uint64_t file_generation_ = 0;
  uint64_t last_flush_ns_ = 0;
  uint64_t last_clock_sync_ns_ = 0;
  uint64_t last_self_cost_ns_ = 0;
  uint64_t reported_writer_ns_ = 0;
  uint64_t reported_watchdog_ns_ = 0;
  uint64_t reported_process_ns_ = 0;
  std::vector<Event> batch_ = std::vector<Event>(4096);

  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> frames_{0};
  std::atomic<uint64_t> dropped_of_removed_threads_{0};
  std::atomic<uint64_t> main_records_{0};
  std::atomic<uint64_t> stack_samples_{0};
  std::atomic<uint64_t> stack_sample_ns_{0};
  // Self-accounting: the writer's own CPU clock, read once per pass; the process's CPU clock
  // when the recorder opened; and the loop-side costs of threads already removed.
  std::atomic<uint64_t> writer_cpu_ns_{0};
  std::atomic<bool> writer_parked_{false};
  // The eventfd the parked writer waits on (Linux), or -1: then it never parks.
  int writer_event_fd_ = -1;
  uint64_t process_cpu_at_open_ns_ = 0;
  std::atomic<uint64_t> removed_hooks_ns_{0};
  std::atomic<uint64_t> removed_timers_ns_{0};
  std::atomic<uint64_t> removed_stacks_ns_{0};
  // The OpenTelemetry bridge's aggregation: 0 off, else the epoch its aggregates belong to.
  std::atomic<uint64_t> aggregation_epoch_{0};
  std::atomic<uint64_t> long_task_ns_{0};
  std::atomic<bool> notify_long_tasks_{false};
  bool long_task_queued_ = false;  // writer thread only
  std::mutex long_mu_;  // guards long_tasks_, long_tasks_dropped_
  std::deque<LongTask> long_tasks_;
  uint64_t long_tasks_dropped_ = 0;
};

}  // namespace looptrace

#endif  // LOOPTRACE_NATIVE_RECORDER_H_
