#ifndef LOOPTRACE_NATIVE_LOOP_HOOKS_H_
#define LOOPTRACE_NATIVE_LOOP_HOOKS_H_

// Hooks on one event loop (the main thread's or a worker's): unref'd prepare and check handles
// that record every iteration and, from those same iterations, take the queue samples and
// (optionally) the threadpool probe; an unref'd idle timer takes them at a slow rate while the
// loop sleeps.

#include <node_api.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "js_batch.h"
#include "recorder.h"

namespace looptrace {

class LoopHooks {
 public:
  // Installs hooks on the calling thread's loop. Returns nullptr and sets *error on failure.
  // `thread` is the calling thread's registration with `recorder` (Recorder::AddThread).
  static LoopHooks* Attach(napi_env env, const std::shared_ptr<Recorder>& recorder,
                           std::shared_ptr<ThreadState> thread, bool probe_threadpool,
                           std::string* error);
  // The hooks of the calling thread, if any.
  static LoopHooks* ForThisThread();

  // Stops recording and closes the handles; frees itself once libuv is done with them.
  // stop_reason goes into the thread's THREAD_STOP: 0 the thread exited, 1 it was terminated,
  // 2 telemetry stopped.
  void Detach(uint32_t stop_reason = 0);
  // The thread is exiting by itself ('exit' was emitted): a teardown after this is not a
  // worker.terminate(), which emits no 'exit'.
  void MarkExiting() { exiting_ = true; }
  // The thread's environment is being torn down: a worker that did not emit 'exit' was
  // terminated (reason 1); anything else exited (reason 0).
  void DetachAtTeardown();

  uint32_t thread_id() const { return thread_->thread_id; }
  // A record from JavaScript on this loop's thread (the ring's one producer). False when this
  // loop is not being recorded.
  bool PushFromJs(uint8_t code, uint64_t f0, uint64_t f1, uint32_t f2);
  // JavaScript's record batch (js_batch.h) for this thread: takes `array_buffer` when it is not
  // the one held, then moves the staged records into the ring, or forgets them while this loop
  // is not recorded (false then).
  bool FlushJs(napi_value array_buffer, uint64_t origin_ns);
  // What the attribution part calls back into (attribution_api.h).
  static const LtCoreApi kCoreApi;
  uint64_t recorder_generation() const { return recorder_generation_; }

 private:
  LoopHooks(napi_env env, uv_loop_t* loop, std::shared_ptr<Recorder> recorder,
            std::shared_ptr<ThreadState> thread, const Config& config, uint64_t generation);
  static void OnGcPause(void* ctx, uint64_t end_ns, uint64_t duration_ns, uint32_t gc_type);
  static void OnStackSample(void* ctx, uint64_t time_ns, uint64_t lag_ns, uint32_t reason,
                            const LtFrame* frames, size_t frame_count);
  void AttachAttribution(const Config& config);
  void DetachAttribution();
  // Run-queue time from /proc/thread-self/schedstat, or 0 when it cannot be read.
  uint64_t ReadRunQueueNs();
  static void OnPrepare(uv_prepare_t* handle);
  static void OnCheck(uv_check_t* handle);
  static void OnIdleTimer(uv_timer_t* handle);
  static void OnProbeWork(uv_work_t* req);
  static void OnProbeDone(uv_work_t* req, int status);
  static void OnClosed(uv_handle_t* handle);
  static void OnEnvTeardown(napi_async_cleanup_hook_handle handle, void* arg);
  bool Active();
  // `in_js`: called from inside JavaScript (a GC epilogue, a stack-sample interrupt), where the
  // JavaScript batch may be half-written.
  inline bool Enter(uint64_t* now, bool in_js = false);
  void SampleCpu(uint64_t now_ns, bool emit, uint64_t measured_poll_blocked_ns);
  bool NeedsCpuBaseline(uint64_t now_ns) const;
  void Rebaseline(uint64_t now_ns);
  void MaybeFinish();
  // Self-accounting: every hook call is counted, and one in kHookSampleEvery is timed, from
  // StartHookCall() at its first instruction to EndHookCall().
  inline uint64_t StartHookCall();
  inline void EndHookCall(uint64_t timed_from);
  // After pushing records: wakes the writer if it parked because nothing was being recorded.
  // One load and a branch; the wake itself (an eventfd write) happens once per park.
  inline void NoteRecords();
  // From the check hook, with the time the poll blocked: takes the entry callback out of a busy
  // loop and puts it back into a quiet one.
  inline void UpdateEntryWatch(uint64_t now_ns, uint64_t blocked_ns);
  static void OnNudge(uv_async_t* handle);
  void SampleHookCost(uint64_t start_ns);
  void AddTimerCost(uint64_t start_cpu_ns);
  // The queue sample and the threadpool probe, when one is due: called from the check hook, so
  // they follow the loop's own iterations and never wake a loop that sleeps in its poll.
  void RunPeriodic(uint64_t now_ns);
  void SchedulePeriodic();
  // The idle timer stops at its first tick after disable() and starts again when recording
  // resumes, so that a disabled loop is not woken by looptrace.
  void StopTimers();
  void RestartTimers();

  napi_env env_;
  uv_loop_t* loop_;
  // Kept for the definitions that stack samples intern, and for the watchdog.
  std::shared_ptr<Recorder> recorder_;
  std::shared_ptr<ThreadState> thread_;
  Ring* ring_;
  const std::atomic<bool>* writer_parked_;
  const uint64_t recorder_generation_;
  const uint64_t cpu_threshold_ns_;
  const uint64_t cpu_resample_ns_;
  const uint64_t sample_interval_ms_;
  const uint64_t probe_interval_ms_;
  // While the loop sleeps in its poll, the samples and probes come from this timer's wake-ups:
  // one every 2 s (or the configured interval, when longer).
  const uint64_t idle_interval_ms_;
  // A poll that blocked this long shows a quiet loop (UpdateEntryWatch).
  const uint64_t quiet_poll_ns_;

  uv_prepare_t prepare_;
  uv_check_t check_;
  uv_timer_t idle_timer_;
  // Woken by the watchdog to put the entry callback back (UpdateEntryWatch).
  uv_async_t nudge_;
  uv_work_t probe_req_;

  // Loop thread only.
  uint32_t seen_state_ = 0;
  uint64_t prepare_ns_ = 0;
  uint64_t check_ns_ = 0;
  uint64_t idle_at_last_check_ns_ = 0;
  uint64_t last_events_ = 0;
  // uv_metrics_info's events_waiting is a running total, like events: records carry deltas.
  uint64_t last_events_waiting_ = 0;
  // Events that were waiting when the latest poll began, for the queue sample.
  uint64_t poll_events_waiting_ = 0;
  uint64_t cpu_sample_wall_ns_ = 0;
  // Time blocked in polls that ended after the latest CPU sample: a THREAD_CPU whose window
  // reaches back across such a poll leaves it out of its wall time (readers subtract only the
  // latest poll's).
  uint64_t blocked_since_sample_ns_ = 0;
  // Busy time off the core since the scheduler statistics were last read (SampleCpu).
  uint64_t off_cpu_unread_ns_ = 0;
  uint64_t cpu_sample_cpu_ns_ = 0;
  uint64_t cpu_sample_runqueue_ns_ = 0;
  // This thread's /proc/thread-self/schedstat, kept open: one pread per CPU sample.
  int schedstat_fd_ = -1;
  // The watchdog's view of this loop, and the attribution part's handle for it.
  std::shared_ptr<WatchedLoop> watch_;
  void* attr_ = nullptr;
  // When a poll last blocked at least quiet_poll_ns_ (UpdateEntryWatch; whether the entry
  // callback is in is watch_->entries_unwatched).
  uint64_t last_quiet_poll_ns_ = 0;
  std::vector<Encoder::StackFrame> stack_frames_;
  uint64_t hook_calls_ = 0;
  uint64_t iterations_ = 0;
  // The threadpool probe completed in this poll phase (its completion is one of the poll's events).
  bool probe_done_in_poll_ = false;
  uint64_t hook_sampled_ns_ = 0;
  uint64_t hook_samples_ = 0;
  // Calls until the next timed one; timed calls (kept or not).
  uint64_t hook_countdown_ = 1;
  uint64_t hook_timed_ = 0;
  // Time between two back-to-back readings of the monotonic clock (CalibrateClockPairNs).
  uint64_t clock_pair_ns_ = 0;
  uint64_t timers_ns_ = 0;
  uint64_t stacks_ns_ = 0;
  bool timers_stopped_ = false;
  bool probe_in_flight_ = false;
  // When the queue sample and the probe were last taken, and the earliest time either is due
  // again (UINT64_MAX: neither); the check hook compares it with its clock reading, nothing more.
  uint64_t last_sample_ns_ = 0;
  uint64_t last_probe_ns_ = 0;
  uint64_t next_periodic_ns_ = UINT64_MAX;
  uint64_t probe_submit_ns_ = 0;
  std::atomic<uint64_t> probe_start_ns_{0};
  int open_handles_ = 0;
  bool detaching_ = false;
  bool exiting_ = false;
  JsBatch js_batch_;
  // Staged JavaScript records older than this were made while recording was paused.
  uint64_t js_not_before_ns_ = 0;
  // The latest Enter() time: records staged after it are not written before it.
  uint64_t js_floor_ns_ = 0;
  napi_async_cleanup_hook_handle cleanup_handle_ = nullptr;
};

}  // namespace looptrace

#endif  // LOOPTRACE_NATIVE_LOOP_HOOKS_H_
