#include "loop_hooks.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>

// uv_metrics_info arrived in libuv 1.45 (Node 20.3). Referencing it weakly lets the addon load on
// older Node 20 releases, where events and events waiting are then recorded as 0.
#pragma weak uv_metrics_info

namespace looptrace {

namespace {

thread_local LoopHooks* t_hooks = nullptr;

// One hook call in this many is timed for self-accounting (odd: prepare and check alternate, so an
// even period would time only one of them), with two readings of the monotonic clock (vDSO, about
// 25 ns each): under 2 ns a call on average. Not with the
// thread's CPU clock: that is a syscall (0.25 µs on bare metal, 1.5-2 µs on this project's
// virtual machines), several times a hook's own cost, and a cold syscall path inside the timed
// window cost more than any calibration could take out (it overstated the hooks many times over,
// and varied widely from run to run).
constexpr uint64_t kHookSampleEvery = 31;
// A timed call longer than this was descheduled (a scheduler slice is at least hundreds of
// microseconds); it says nothing about the hooks' CPU cost and is left out of the mean.
constexpr uint64_t kHookSampleMaxNs = 50'000;
// A loop that sleeps in its poll is sampled and probed this often (or at its configured
// intervals, when longer), so that an idle stretch still has samples and pressure that other
// threads put on the pool is noticed. Each such wake-up costs the process about 8 context
// switches (the loop, the probe's pool thread and its completion, the writer, the watchdog), a
// few hundred microseconds on a loaded virtual machine: every 2 s keeps idle CPU well under
// 1 ms/s.
constexpr uint64_t kIdleIntervalMs = 2000;
constexpr uint64_t kMsNs = 1'000'000;
// A CPU baseline is at most this old when a stretch begins (or the CPU threshold, when lower; or
// a tenth of it, when that is longer): a THREAD_CPU may count this much busy time from before
// its stretch (LoopHooks::NeedsCpuBaseline). A tenth keeps a THREAD_CPU's window within 10% of
// the shortest stretch it measures when the threshold is raised, and a loop that asks for
// coarser CPU records then reads its CPU clock less often too.
constexpr uint64_t kMinCpuResampleNs = 2'000'000;

uint64_t CpuResampleNs(uint64_t cpu_threshold_ns) {
  return std::min(cpu_threshold_ns, std::max(kMinCpuResampleNs, cpu_threshold_ns / 10));
}
// Busy time off the core that the scheduler statistics may leave unread (LoopHooks::SampleCpu).
constexpr uint64_t kUnreadOffCpuNs = 100'000;
// A probe that waited this long found the pool with work queued: half of analyze-trace's default
// pressure threshold (10 ms). An idle pool starts a task in tens of microseconds, 1.5 ms at the
// 99th percentile on a loaded machine, so scheduling noise does not keep an idle loop probing.
constexpr uint64_t kPoolBusyDelayNs = 5'000'000;
// The entry callback (the attribution part's V8 BeforeCallEnteredCallback) serves only a parked
// watchdog, and the watchdog parks only when every loop sleeps in its poll with at most two
// iterations a stack threshold. On a busy loop it would cost each entry into JavaScript a few
// cache misses for nothing (perf put it at 0.35% of a saturated server's main thread, more than
// the hooks): it is taken out after this long without a quiet poll, and put back by the first
// quiet poll: one that blocked a quarter of the stack threshold (a loop the watchdog finds
// quiet iterates at most twice a threshold), between 1 and 5 ms: a saturated server's poll can
// block a millisecond or so when its client is descheduled on a shared machine (seen here with a
// temporary counter), which should not put the callback back.
constexpr uint64_t kUnwatchAfterNs = 100'000'000;
constexpr uint64_t kMinQuietPollNs = 1'000'000;
constexpr uint64_t kMaxQuietPollNs = 5'000'000;

uint64_t IdleIntervalMs(const Config& config) {
  uint64_t longest = std::max(config.queue_sample_interval_ms, config.threadpool_probe_interval_ms);
  return longest == 0 ? 0 : std::max(longest, kIdleIntervalMs);
}

// Reads this thread's CPU time: a syscall (about 250 ns on bare metal, 1.5-2 µs on a virtual
// machine), so callers rate-limit it.
uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// What a timed hook call's window holds of the timing itself: the time between two readings of
// the monotonic clock made back to back, the least of a few (the rest were interrupted).
uint64_t CalibrateClockPairNs() {
  uint64_t best = UINT64_MAX;
  for (int i = 0; i < 16; i++) {
    uint64_t a = uv_hrtime();
    uint64_t b = uv_hrtime();
    if (b >= a) best = std::min(best, b - a);
  }
  return best == UINT64_MAX ? 0 : best;
}

// Opens the calling thread's scheduler statistics (Linux). /proc/thread-self resolves to the
// calling thread when opened, so the descriptor keeps reading this thread's numbers.
int OpenSchedstat() {
#ifdef __linux__
  return open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
#else
  return -1;
#endif
}

bool ReadMetrics(uv_loop_t* loop, uv_metrics_t* metrics) {
  if (&uv_metrics_info == nullptr) return false;
  return uv_metrics_info(loop, metrics) == 0;
}

}  // namespace

const LtCoreApi LoopHooks::kCoreApi = {LOOPTRACE_ATTRIBUTION_API_VERSION, LoopHooks::OnGcPause,
                                       LoopHooks::OnStackSample, &g_watchdog_parked,
                                       WakeParkedWatchdog};

LoopHooks::LoopHooks(napi_env env, uv_loop_t* loop, std::shared_ptr<Recorder> recorder,
                     std::shared_ptr<ThreadState> thread, const Config& config, uint64_t generation)
    : env_(env), loop_(loop), recorder_(std::move(recorder)), thread_(std::move(thread)),
      ring_(&thread_->ring), writer_parked_(recorder_->writer_parked_flag()),
      recorder_generation_(generation), cpu_threshold_ns_(config.cpu_threshold_ns),
      cpu_resample_ns_(CpuResampleNs(config.cpu_threshold_ns)),
      sample_interval_ms_(config.queue_sample_interval_ms),
      probe_interval_ms_(config.threadpool_probe_interval_ms),
      idle_interval_ms_(IdleIntervalMs(config)),
      quiet_poll_ns_(std::clamp<uint64_t>(config.stack_threshold_ns / 4, kMinQuietPollNs, kMaxQuietPollNs)) {}

LoopHooks* LoopHooks::ForThisThread() { return t_hooks; }

LoopHooks* LoopHooks::Attach(napi_env env, const std::shared_ptr<Recorder>& recorder,
                             std::shared_ptr<ThreadState> thread, bool probe_threadpool,
                             std::string* error) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    thread->recording.store(false);
    thread->closed.store(true, std::memory_order_release);
    *error = "cannot get this thread's event loop";
    return nullptr;
  }
  Config config = recorder->config();
  if (!probe_threadpool) config.threadpool_probe_interval_ms = 0;
  auto* self = new LoopHooks(env, loop, recorder, thread, config, recorder->generation());
  if (config.schedstat) self->schedstat_fd_ = OpenSchedstat();
  uv_metrics_t metrics;
  if (ReadMetrics(loop, &metrics)) {
    self->last_events_ = metrics.events;
    self->last_events_waiting_ = metrics.events_waiting;
  }
  self->clock_pair_ns_ = CalibrateClockPairNs();
  self->cpu_sample_wall_ns_ = uv_hrtime();
  self->cpu_sample_cpu_ns_ = ThreadCpuNs();
  self->cpu_sample_runqueue_ns_ = self->ReadRunQueueNs();
  self->idle_at_last_check_ns_ = uv_metrics_idle_time(loop);
  self->last_sample_ns_ = self->cpu_sample_wall_ns_;
  self->last_probe_ns_ = self->cpu_sample_wall_ns_;
  self->SchedulePeriodic();

  // Every handle is unref'd: telemetry must never keep a process or a worker alive.
  uv_prepare_init(loop, &self->prepare_);
  self->prepare_.data = self;
  uv_prepare_start(&self->prepare_, OnPrepare);
  uv_unref(reinterpret_cast<uv_handle_t*>(&self->prepare_));
  uv_check_init(loop, &self->check_);
  self->check_.data = self;
  uv_check_start(&self->check_, OnCheck);
  uv_unref(reinterpret_cast<uv_handle_t*>(&self->check_));
  self->open_handles_ = 2;
  uv_timer_init(loop, &self->idle_timer_);
  self->idle_timer_.data = self;
  uv_unref(reinterpret_cast<uv_handle_t*>(&self->idle_timer_));
  if (self->idle_interval_ms_ > 0) {
    uv_timer_start(&self->idle_timer_, OnIdleTimer, self->idle_interval_ms_, self->idle_interval_ms_);
  }
  self->open_handles_ = 3;
  uv_async_init(loop, &self->nudge_, OnNudge);
  self->nudge_.data = self;
  uv_unref(reinterpret_cast<uv_handle_t*>(&self->nudge_));
  self->open_handles_ = 4;
  self->probe_req_.data = self;

  // The async cleanup hook is the teardown that survives worker.terminate(); a plain env cleanup
  // hook that closes handles aborts Node intermittently.
  if (napi_add_async_cleanup_hook(env, OnEnvTeardown, self, &self->cleanup_handle_) != napi_ok) {
    self->cleanup_handle_ = nullptr;
  }
  self->AttachAttribution(config);
  t_hooks = self;
  return self;
}

// Hooks this thread's isolate through the attribution part (GC callbacks, stack requests) and
// shows the loop to the watchdog. Without the attribution part, nothing happens.
void LoopHooks::AttachAttribution(const Config& config) {
  const LtAttributionApi* api = config.attribution;
  if (api == nullptr) return;
  uint32_t flags = (config.gc_pauses ? static_cast<uint32_t>(kLtAttachGc) : 0u) |
                   (config.stack_threshold_ns > 0 ? static_cast<uint32_t>(kLtAttachStacks) : 0u);
  if (flags == 0) return;
  attr_ = api->attach_thread(&kCoreApi, this, flags, config.stack_max_frames);
  if (attr_ == nullptr) return;
  Watchdog* watchdog = recorder_->watchdog();
  if (watchdog == nullptr) return;
  watch_ = std::make_shared<WatchedLoop>();
  watch_->loop = loop_;
  watch_->attr = attr_;
  watch_->nudge = &nudge_;
  watch_->quiet_poll_ns = quiet_poll_ns_;
  // attach_thread installed the entry callback (kLtAttachStacks: there is a watchdog), so
  // entries_unwatched starts at 0.
  last_quiet_poll_ns_ = uv_hrtime();
  watch_->recording = &thread_->recording;
  watchdog->Add(watch_);
}

void LoopHooks::DetachAttribution() {
  if (watch_) {
    if (Watchdog* watchdog = recorder_->watchdog()) watchdog->Remove(watch_.get());
    watch_.reset();
  }
  if (attr_ != nullptr) {
    recorder_->config().attribution->detach_thread(attr_);
    attr_ = nullptr;
  }
}

// Called by the attribution part from V8's GC epilogue, on this loop's thread.
void LoopHooks::OnGcPause(void* ctx, uint64_t end_ns, uint64_t duration_ns, uint32_t gc_type) {
  auto* self = static_cast<LoopHooks*>(ctx);
  uint64_t now;
  // Through Enter(): a pause right after enable() comes after the RESUMED record.
  if (self->detaching_ || !self->Enter(&now, true)) return;
  self->ring_->Push(wire::kGcPause, end_ns, duration_ns, gc_type);
  self->NoteRecords();
}

// Called by the attribution part from a V8 interrupt, on this loop's thread, with the stack the
// watchdog asked for. Interning takes a lock and may allocate: this is the slow path, taken only
// while a loop is busy past the stack threshold.
void LoopHooks::OnStackSample(void* ctx, uint64_t taken_ns, uint64_t lag_ns, uint32_t reason,
                              const LtFrame* frames, size_t frame_count) {
  auto* self = static_cast<LoopHooks*>(ctx);
  uint64_t now;
  if (self->detaching_ || !self->Enter(&now, true)) return;
  if (WatchedLoop* w = self->watch_.get()) {
    // Served after the stretch it was asked for had ended (the thread left JavaScript right
    // after the request): this stack belongs to later code, not to the busy stretch.
    if (reason == 0 && w->requested_phase.load(std::memory_order_relaxed) !=
                           w->phase.load(std::memory_order_relaxed)) {
      // Enter() may have moved staged JavaScript records into the ring.
      self->NoteRecords();
      return;
    }
  }
  Definitions& defs = self->recorder_->definitions();
  std::vector<Encoder::StackFrame>& stack = self->stack_frames_;
  stack.resize(frame_count);
  for (size_t i = 0; i < frame_count; i++) {
    const LtFrame& f = frames[i];
    stack[i].function_name_string_id =
        f.function_name_length == 0 ? 0 : defs.InternString(std::string(f.function_name, f.function_name_length));
    stack[i].script_string_id =
        f.script_length == 0 ? 0 : defs.InternString(std::string(f.script, f.script_length));
    stack[i].line = f.line;
    stack[i].column = f.column;
  }
  uint64_t stack_id = frame_count == 0 ? 0 : defs.InternStack(stack);
  // Stamped after interning rather than when the interrupt began: taking the stack can itself run
  // a GC, whose pause record is already in the ring, and records of a thread go in time order.
  uint64_t done = uv_hrtime();
  self->ring_->Push(wire::kStackSample, done, stack_id, lag_ns, reason);
  self->NoteRecords();
  // What the sample cost this loop, from the interrupt's start (the V8 part's taken_ns) to here:
  // the thread ran nothing else meanwhile.
  uint64_t cost = done > taken_ns ? done - taken_ns : 0;
  self->recorder_->CountStackSample(cost);
  self->stacks_ns_ += cost;
  self->thread_->stacks_ns.store(self->stacks_ns_, std::memory_order_relaxed);
}

bool LoopHooks::Active() {
  return (g_record_state.load(std::memory_order_relaxed) & 1) != 0 &&
         thread_->recording.load(std::memory_order_relaxed);
}

// The shared start of both hooks: false when not recording. When recording has just resumed, it
// writes RESUMED and forgets the last poll, so nothing is measured across the pause.
inline bool LoopHooks::Enter(uint64_t* now, bool in_js) {
  uint32_t state = g_record_state.load(std::memory_order_relaxed);
  if ((state & 1) == 0 || !thread_->recording.load(std::memory_order_relaxed)) return false;
  *now = uv_hrtime();
  if (state != seen_state_) {
    if (seen_state_ != 0) {
      ring_->Push(wire::kResumed, *now);
      js_not_before_ns_ = *now;
    }
    seen_state_ = state;
    prepare_ns_ = 0;
    check_ns_ = 0;
    if (timers_stopped_) RestartTimers();
    // The watchdog must not see a stretch that spans the pause.
    if (watch_) {
      watch_->phase.store(0, std::memory_order_relaxed);
      watch_->phase_state.store(state, std::memory_order_release);
    }
    Rebaseline(*now);
  }
  // Records JavaScript staged before now go into the ring before the caller's record.
  if (!js_batch_.empty()) {
    js_batch_.Drain(ring_, recorder_->definitions(), *now, js_floor_ns_, js_not_before_ns_, !in_js);
  }
  js_floor_ns_ = *now;
  return true;
}

// Through Enter(), so that a record from JavaScript right after enable() follows the RESUMED.
bool LoopHooks::PushFromJs(uint8_t code, uint64_t f0, uint64_t f1, uint32_t f2) {
  uint64_t now;
  if (detaching_ || !Enter(&now)) return false;
  ring_->Push(code, now, f0, f1, f2);
  NoteRecords();
  return true;
}

bool LoopHooks::FlushJs(napi_value array_buffer, uint64_t origin_ns) {
  if (detaching_) return false;
  if (!js_batch_.Attached(env_, array_buffer) && !js_batch_.Attach(env_, array_buffer, origin_ns)) {
    return false;
  }
  uint64_t now;
  if (!Enter(&now)) {
    js_batch_.Discard(true);
    return false;
  }
  // Enter() moved the batch into the ring: a parked writer is woken for it like for any push.
  NoteRecords();
  return true;
}

// Hot path: runs once per loop iteration, before the poll. No lock, no allocation; the only
// syscall is the rate-limited CPU-time read.
void LoopHooks::OnPrepare(uv_prepare_t* handle) {
  auto* self = static_cast<LoopHooks*>(handle->data);
  uint64_t timed_from = self->StartHookCall();
  // The iteration ends: a watchdog timer this thread armed for it is not needed (even when not
  // recording: the timer may have been armed before disable()).
  DisarmWatchdogTimer();
  uint64_t now;
  if (!self->Enter(&now)) return self->EndHookCall(timed_from);
  self->ring_->Push(wire::kPollStart, now);
  if (WatchedLoop* w = self->watch_.get()) {
    // For the watchdog: inside the poll from now; the idle time at the last check is also the
    // idle time now, since libuv adds to it only inside the poll.
    w->idle_at_prepare_ns.store(self->idle_at_last_check_ns_, std::memory_order_relaxed);
    w->iterations.store(++self->iterations_, std::memory_order_relaxed);
    w->phase.store((now << 1) | 1, std::memory_order_release);
  }
  if (self->check_ns_ != 0 && now - self->check_ns_ >= self->cpu_threshold_ns_) {
    self->SampleCpu(now, true, 0);
  } else if (self->NeedsCpuBaseline(now)) {
    self->SampleCpu(now, false, 0);
  }
  self->prepare_ns_ = now;
  self->NoteRecords();
  self->EndHookCall(timed_from);
}

// Hot path: runs once per loop iteration, right after the poll and before setImmediate callbacks.
void LoopHooks::OnCheck(uv_check_t* handle) {
  auto* self = static_cast<LoopHooks*>(handle->data);
  uint64_t timed_from = self->StartHookCall();
  uint64_t now;
  if (!self->Enter(&now)) return self->EndHookCall(timed_from);
  // For the watchdog: a busy stretch begins.
  if (WatchedLoop* w = self->watch_.get()) w->phase.store(now << 1, std::memory_order_release);
  if (self->prepare_ns_ == 0) {
    // No POLL_START for this poll (recording began inside the iteration): only move the baseline.
    self->idle_at_last_check_ns_ = uv_metrics_idle_time(self->loop_);
    self->check_ns_ = now;
    self->probe_done_in_poll_ = false;
    if (self->watch_ && __atomic_load_n(&g_watchdog_parked, __ATOMIC_RELAXED) != 0) WakeParkedWatchdog();
    self->NoteRecords();
    return self->EndHookCall(timed_from);
  }
  uint64_t idle = uv_metrics_idle_time(self->loop_);
  // libuv adds to the idle time only inside the poll, so the reading at the previous check is
  // also the reading at this iteration's prepare: one locked read per iteration instead of two.
  uint64_t blocked = idle - self->idle_at_last_check_ns_;
  self->idle_at_last_check_ns_ = idle;
  self->blocked_since_sample_ns_ += blocked;
  uint64_t events = 0;
  uint64_t waiting = 0;
  uv_metrics_t metrics;
  if (ReadMetrics(self->loop_, &metrics)) {
    events = metrics.events - self->last_events_;
    self->last_events_ = metrics.events;
    waiting = metrics.events_waiting - self->last_events_waiting_;
    self->last_events_waiting_ = metrics.events_waiting;
    self->poll_events_waiting_ = waiting;
  }
  self->ring_->Push(wire::kPollEnd, now, blocked, events, static_cast<uint32_t>(waiting));
  if (self->watch_) self->UpdateEntryWatch(now, blocked);
  // A parked watchdog is woken here as well as by the entries into JavaScript: V8 runs some
  // JavaScript without reporting an entry (a promise that a platform task resolves, such as
  // Atomics.waitAsync's timeout, continues in the microtask checkpoint of the timer phase that
  // follows this hook). Not for looptrace's own wake-ups, which run no JavaScript: a poll that
  // ended with no event when the idle timer fell due, or whose one event was the probe's
  // completion. (The watchdog reads the word with a process-wide barrier, watchdog.h.)
  if (self->watch_ && __atomic_load_n(&g_watchdog_parked, __ATOMIC_RELAXED) != 0) {
    bool idle_tick = events == 0 && uv_is_active(reinterpret_cast<uv_handle_t*>(&self->idle_timer_)) &&
                     uv_timer_get_due_in(&self->idle_timer_) == 0;
    bool probe_completion = events == 1 && self->probe_done_in_poll_;
    if (!idle_tick && !probe_completion) WakeParkedWatchdog();
  }
  self->probe_done_in_poll_ = false;
  uint64_t poll_ns = now - self->prepare_ns_;
  if (poll_ns > blocked && poll_ns - blocked >= self->cpu_threshold_ns_) {
    self->SampleCpu(now, true, blocked);
  } else if (self->NeedsCpuBaseline(now)) {
    self->SampleCpu(now, false, 0);
  }
  self->check_ns_ = now;
  self->NoteRecords();
  // Before the periodic work, which times itself (component "timers").
  self->EndHookCall(timed_from);
  if (now >= self->next_periodic_ns_) {
    self->RunPeriodic(now);
    self->NoteRecords();
  }
}

inline void LoopHooks::NoteRecords() {
  // The writer parks behind a process-wide barrier (Recorder::Park): only the compiler must keep
  // this load after the pushes.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (writer_parked_->load(std::memory_order_relaxed)) {
    recorder_->WakeWriter();
  } else if (ring_->PastHighWater()) {
    recorder_->HurryWriter();
  }
}

// Every check hook: a comparison or two, and a load of a word 40 bytes from the watched loop's
// phase, which the hook has just written. The attribution table is read only to switch.
inline void LoopHooks::UpdateEntryWatch(uint64_t now_ns, uint64_t blocked_ns) {
  std::atomic<uint32_t>& unwatched = watch_->entries_unwatched;
  if (blocked_ns >= quiet_poll_ns_) {
    last_quiet_poll_ns_ = now_ns;
    if (unwatched.load(std::memory_order_relaxed) == 0) return;
    // Installed before the flag is cleared: once the watchdog may park, entries wake it.
    recorder_->config().attribution->watch_entries(attr_, 1);
    unwatched.store(0, std::memory_order_release);
  } else if (now_ns - last_quiet_poll_ns_ >= kUnwatchAfterNs && unwatched.load(std::memory_order_relaxed) == 0) {
    // The flag first, then the parked word: the watchdog parks (sets the word), runs a
    // process-wide barrier, then reads the flag, so either it sees the flag and does not park, or
    // this thread sees it parked and wakes it before the callback goes.
    unwatched.store(1, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (__atomic_load_n(&g_watchdog_parked, __ATOMIC_RELAXED) != 0) WakeParkedWatchdogNow();
    recorder_->config().attribution->watch_entries(attr_, 0);
  }
}

// The wake-up itself is the point: the watchdog sends it once the poll has blocked quiet_poll_ns_,
// so the check hook of this iteration puts the callback back.
void LoopHooks::OnNudge(uv_async_t*) {}

// 0, or for the one call in kHookSampleEvery that is timed, the time now.
inline uint64_t LoopHooks::StartHookCall() {
  hook_calls_++;
  if (--hook_countdown_ != 0) return 0;
  hook_countdown_ = kHookSampleEvery;
  return uv_hrtime();
}

inline void LoopHooks::EndHookCall(uint64_t timed_from) {
  if (timed_from != 0) SampleHookCost(timed_from);
}

// The estimate is every call at the mean timed call's cost, without the timing's own clock
// readings, plus those readings in full for the calls that were timed.
void LoopHooks::SampleHookCost(uint64_t start_ns) {
  uint64_t elapsed = uv_hrtime() - start_ns;
  if (elapsed < kHookSampleMaxNs) {
    hook_sampled_ns_ += elapsed > clock_pair_ns_ ? elapsed - clock_pair_ns_ : 0;
    hook_samples_++;
  }
  hook_timed_++;
  if (hook_samples_ == 0) return;
  // 128 bits: calls times sampled nanoseconds passes 64 bits within weeks of a busy loop.
  uint64_t estimate_ns = static_cast<uint64_t>(static_cast<unsigned __int128>(hook_sampled_ns_) * hook_calls_ / hook_samples_);
  thread_->hooks_ns.store(estimate_ns + hook_timed_ * 2 * clock_pair_ns_, std::memory_order_relaxed);
}

// The queue samples and probes run a few dozen times a second at most: each is timed whole, on the thread's CPU clock (two
// reads of about 250 ns each), so that a callback descheduled on a busy machine does not count
// the time it waited. The first probe also pays for starting libuv's threadpool.
void LoopHooks::AddTimerCost(uint64_t start_cpu_ns) {
  // On a virtual machine the thread CPU clock can step back a little between two reads.
  uint64_t end_cpu_ns = ThreadCpuNs();
  timers_ns_ += end_cpu_ns > start_cpu_ns ? end_cpu_ns - start_cpu_ns : 0;
  thread_->timers_ns.store(timers_ns_, std::memory_order_relaxed);
}

void LoopHooks::StopTimers() {
  if (timers_stopped_) return;
  timers_stopped_ = true;
  uv_timer_stop(&idle_timer_);
}

void LoopHooks::RestartTimers() {
  timers_stopped_ = false;
  if (detaching_) return;
  if (idle_interval_ms_ > 0) {
    uv_timer_start(&idle_timer_, OnIdleTimer, idle_interval_ms_, idle_interval_ms_);
  }
}

// The earliest time a queue sample or a probe is due. A probe in flight is not due: the next
// is scheduled when it comes back.
void LoopHooks::SchedulePeriodic() {
  uint64_t next = UINT64_MAX;
  if (sample_interval_ms_ > 0) next = last_sample_ns_ + sample_interval_ms_ * kMsNs;
  if (probe_interval_ms_ > 0 && !probe_in_flight_) {
    next = std::min(next, last_probe_ns_ + probe_interval_ms_ * kMsNs);
  }
  next_periodic_ns_ = next;
}

// Timed whole on the thread's CPU clock, like the timers it replaces (SELF_COST component 4).
// Runs at most once per interval per kind, and only on an iteration the loop makes anyway: a
// loop that sleeps is woken only by the idle timer.
void LoopHooks::RunPeriodic(uint64_t now) {
  uint64_t cpu = ThreadCpuNs();
  if (sample_interval_ms_ > 0 && now - last_sample_ns_ >= sample_interval_ms_ * kMsNs) {
    last_sample_ns_ = now;
    // The probe in flight is ours; the application's requests are the rest.
    uint64_t requests = loop_->active_reqs.count;
    if (probe_in_flight_ && requests > 0) requests--;
    // Events waiting at the last poll (docs/FORMAT.md 6.1), as its POLL_END recorded them.
    ring_->Push(wire::kQueueSample, now, loop_->active_handles, requests,
                static_cast<uint32_t>(poll_events_waiting_));
  }
  if (probe_interval_ms_ > 0 && !probe_in_flight_ && !detaching_ &&
      now - last_probe_ns_ >= probe_interval_ms_ * kMsNs) {
    last_probe_ns_ = now;
    probe_in_flight_ = true;
    probe_start_ns_.store(0, std::memory_order_relaxed);
    probe_submit_ns_ = uv_hrtime();
    if (uv_queue_work(loop_, &probe_req_, OnProbeWork, OnProbeDone) != 0) probe_in_flight_ = false;
  }
  SchedulePeriodic();
  AddTimerCost(cpu);
}

// Recording (re)starts: the next THREAD_CPU and POLL_END measure from here, not across the time
// recording was paused.
void LoopHooks::Rebaseline(uint64_t now_ns) {
  SampleCpu(now_ns, false, 0);
  idle_at_last_check_ns_ = uv_metrics_idle_time(loop_);
  uv_metrics_t metrics;
  if (ReadMetrics(loop_, &metrics)) {
    last_events_ = metrics.events;
    last_events_waiting_ = metrics.events_waiting;
  }
}

// A CPU sample costs a syscall or two (the thread CPU clock, 1.5 µs on this project's virtual
// machines, and sometimes the schedstat read), so a stretch's baseline is not taken at every hook:
// a THREAD_CPU may measure from up to cpu_resample_ns_ (the CPU threshold up to 2 ms, then 2 ms,
// then a tenth of the threshold past 20 ms) before
// its stretch began, busy time whose CPU it counts too, so its ratio holds. Polls that blocked in
// that window are taken out of the THREAD_CPU's wall time (SampleCpu), so a loop whose polls
// block between short iterations (a server below saturation) also samples about every 2 ms,
// not at nearly every hook; a loop that sleeps longer between iterations samples at each.
inline bool LoopHooks::NeedsCpuBaseline(uint64_t now_ns) const {
  return now_ns - cpu_sample_wall_ns_ >= cpu_resample_ns_;
}

// The scheduler statistics (a /proc read, about 2 µs on a virtual machine) are read only when they
// can say something: when the busy time since they were last read, less the CPU time, passes
// kUnreadOffCpuNs. The thread can have been runnable only while it was off its core, so a
// THREAD_CPU without THREAD_SCHED then misses at most that much runnable time, and the next
// THREAD_SCHED can carry at most that much from before its window. A CPU-bound loop, the common
// case at saturation, thus pays one syscall per sample instead of two.
void LoopHooks::SampleCpu(uint64_t now_ns, bool emit, uint64_t measured_poll_blocked_ns) {
  uint64_t cpu = ThreadCpuNs();
  uint64_t wall = now_ns - cpu_sample_wall_ns_;
  uint64_t busy = wall > blocked_since_sample_ns_ ? wall - blocked_since_sample_ns_ : 0;
  // On a virtual machine the thread CPU clock can step back a little between two reads.
  uint64_t cpu_delta = cpu > cpu_sample_cpu_ns_ ? cpu - cpu_sample_cpu_ns_ : 0;
  off_cpu_unread_ns_ += busy > cpu_delta ? busy - cpu_delta : 0;
  bool read_sched = schedstat_fd_ >= 0 && off_cpu_unread_ns_ > kUnreadOffCpuNs;
  uint64_t runqueue = read_sched ? ReadRunQueueNs() : cpu_sample_runqueue_ns_;
  if (emit) {
    // The window's wall time without the polls that blocked in it before the one this sample
    // measures (readers take that one's blocked time out themselves, docs/FORMAT.md): time asleep
    // in a poll is neither CPU nor a wait of the stretch.
    uint64_t earlier_blocked = blocked_since_sample_ns_ > measured_poll_blocked_ns ? blocked_since_sample_ns_ - measured_poll_blocked_ns : 0;
    uint64_t window = wall > earlier_blocked ? wall - earlier_blocked : 0;
    ring_->Push(wire::kThreadCpu, now_ns, window, cpu - cpu_sample_cpu_ns_);
    if (runqueue > cpu_sample_runqueue_ns_) {
      ring_->Push(wire::kThreadSched, now_ns, runqueue - cpu_sample_runqueue_ns_);
    }
  }
  cpu_sample_wall_ns_ = now_ns;
  blocked_since_sample_ns_ = 0;
  cpu_sample_cpu_ns_ = cpu;
  if (read_sched) {
    cpu_sample_runqueue_ns_ = runqueue;
    off_cpu_unread_ns_ = 0;
  }
}

// The second number of schedstat: nanoseconds this thread has spent runnable, waiting in the run
// queue for a core. One pread of a descriptor opened at attach; rate-limited like the CPU clock.
uint64_t LoopHooks::ReadRunQueueNs() {
  if (schedstat_fd_ < 0) return 0;
  char buf[96];
  ssize_t n = pread(schedstat_fd_, buf, sizeof buf - 1, 0);
  if (n <= 0) return cpu_sample_runqueue_ns_;
  buf[n] = 0;
  char* end = nullptr;
  std::strtoull(buf, &end, 10);
  if (end == buf) return cpu_sample_runqueue_ns_;
  return std::strtoull(end, nullptr, 10);
}

// Only wakes the loop: the check hook of the iteration this timer ends took the sample and the
// probe that were due. Stops itself once recording is off.
void LoopHooks::OnIdleTimer(uv_timer_t* handle) {
  auto* self = static_cast<LoopHooks*>(handle->data);
  if (!self->Active()) self->StopTimers();
}

void LoopHooks::OnProbeWork(uv_work_t* req) {
  static_cast<LoopHooks*>(req->data)->probe_start_ns_.store(uv_hrtime(), std::memory_order_release);
}

void LoopHooks::OnProbeDone(uv_work_t* req, int status) {
  auto* self = static_cast<LoopHooks*>(req->data);
  uint64_t cpu = ThreadCpuNs();
  self->probe_in_flight_ = false;
  self->probe_done_in_poll_ = true;
  self->SchedulePeriodic();
  uint64_t started = self->probe_start_ns_.load(std::memory_order_acquire);
  uint64_t now;
  if (status == 0 && started != 0 && !self->detaching_ && self->Enter(&now)) {
    uint64_t delay = started > self->probe_submit_ns_ ? started - self->probe_submit_ns_ : 0;
    self->ring_->Push(wire::kThreadpoolProbe, now, delay);
    self->NoteRecords();
    // The probe waited in the pool's queue: the pool has work, perhaps from other threads while
    // this loop sleeps. Wake for the next probe at the configured interval rather than the idle
    // one, so that pressure is followed at full resolution for as long as it lasts.
    if (delay >= kPoolBusyDelayNs && !self->timers_stopped_ && self->idle_interval_ms_ > 0) {
      uv_timer_start(&self->idle_timer_, OnIdleTimer, self->probe_interval_ms_, self->idle_interval_ms_);
    }
    self->AddTimerCost(cpu);
  }
  if (self->detaching_) self->MaybeFinish();
}

void LoopHooks::Detach(uint32_t stop_reason) {
  if (detaching_) return;
  // What JavaScript staged goes in before the thread's last records.
  uint64_t now;
  if (!js_batch_.empty()) Enter(&now);
  js_batch_.Release(env_);
  detaching_ = true;
  thread_->recording.store(false, std::memory_order_relaxed);
  thread_->stop_reason.store(stop_reason, std::memory_order_relaxed);
  thread_->closed.store(true, std::memory_order_release);
  if (t_hooks == this) t_hooks = nullptr;
  DetachAttribution();
  if (schedstat_fd_ >= 0) {
    close(schedstat_fd_);
    schedstat_fd_ = -1;
  }
  // A writer asleep while telemetry is disabled still writes this thread's THREAD_STOP.
  recorder_->Wake();
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_timer_), OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&nudge_), OnClosed);
}

void LoopHooks::OnClosed(uv_handle_t* handle) {
  auto* self = static_cast<LoopHooks*>(handle->data);
  self->open_handles_--;
  self->MaybeFinish();
}

// Frees the hooks once libuv has closed every handle and the probe in flight has come back.
void LoopHooks::MaybeFinish() {
  if (open_handles_ > 0 || probe_in_flight_) return;
  if (cleanup_handle_ != nullptr) napi_remove_async_cleanup_hook(cleanup_handle_);
  delete this;
}

void LoopHooks::DetachAtTeardown() {
  bool terminated = thread_->kind != 0 && !exiting_;
  Detach(terminated ? 1 : 0);
}

void LoopHooks::OnEnvTeardown(napi_async_cleanup_hook_handle, void* arg) {
  static_cast<LoopHooks*>(arg)->DetachAtTeardown();
}

}  // namespace looptrace
