#include "loop_hooks.h"

#include <ctime>

// uv_metrics_info arrived in libuv 1.45 (Node 20.3). Referencing it weakly lets the addon load on
// older Node 20 releases, where events and events waiting are then recorded as 0.
#pragma weak uv_metrics_info

namespace looptrace {

namespace {

thread_local LoopHooks* t_hooks = nullptr;

// Reads this thread's CPU time: a syscall of about 250 ns, so callers rate-limit it.
uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

bool ReadMetrics(uv_loop_t* loop, uv_metrics_t* metrics) {
  if (&uv_metrics_info == nullptr) return false;
  return uv_metrics_info(loop, metrics) == 0;
}

}  // namespace

LoopHooks::LoopHooks(napi_env env, uv_loop_t* loop, std::shared_ptr<ThreadState> thread,
                     const Config& config, uint64_t generation)
    : env_(env), loop_(loop), thread_(std::move(thread)), ring_(&thread_->ring),
      recorder_generation_(generation), cpu_threshold_ns_(config.cpu_threshold_ns),
      cpu_resample_ns_(config.cpu_threshold_ns / 2),
      sample_interval_ms_(config.queue_sample_interval_ms),
      probe_interval_ms_(config.threadpool_probe_interval_ms) {}

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
  auto* self = new LoopHooks(env, loop, thread, config, recorder->generation());
  uv_metrics_t metrics;
  if (ReadMetrics(loop, &metrics)) {
    self->last_events_ = metrics.events;
    self->last_events_waiting_ = metrics.events_waiting;
  }
  self->cpu_sample_wall_ns_ = uv_hrtime();
  self->cpu_sample_cpu_ns_ = ThreadCpuNs();
  self->idle_at_last_check_ns_ = uv_metrics_idle_time(loop);

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
  uv_timer_init(loop, &self->sample_timer_);
  self->sample_timer_.data = self;
  uv_unref(reinterpret_cast<uv_handle_t*>(&self->sample_timer_));
  if (self->sample_interval_ms_ > 0) {
    uv_timer_start(&self->sample_timer_, OnSampleTimer, self->sample_interval_ms_,
                   self->sample_interval_ms_);
  }
  uv_timer_init(loop, &self->probe_timer_);
  self->probe_timer_.data = self;
  uv_unref(reinterpret_cast<uv_handle_t*>(&self->probe_timer_));
  if (self->probe_interval_ms_ > 0) {
    uv_timer_start(&self->probe_timer_, OnProbeTimer, self->probe_interval_ms_,
                   self->probe_interval_ms_);
  }
  self->open_handles_ = 4;
  self->probe_req_.data = self;

  // The async cleanup hook is the teardown that survives worker.terminate(); a plain env cleanup
  // hook that closes handles aborts Node intermittently.
  if (napi_add_async_cleanup_hook(env, OnEnvTeardown, self, &self->cleanup_handle_) != napi_ok) {
    self->cleanup_handle_ = nullptr;
  }
  t_hooks = self;
  return self;
}

bool LoopHooks::Active() {
  return (g_record_state.load(std::memory_order_relaxed) & 1) != 0 &&
         thread_->recording.load(std::memory_order_relaxed);
}

// The shared start of both hooks: false when not recording. When recording has just resumed, it
// writes RESUMED and forgets the last poll, so nothing is measured across the pause.
inline bool LoopHooks::Enter(uint64_t* now) {
  uint32_t state = g_record_state.load(std::memory_order_relaxed);
  if ((state & 1) == 0 || !thread_->recording.load(std::memory_order_relaxed)) return false;
  *now = uv_hrtime();
  if (state != seen_state_) {
    if (seen_state_ != 0) ring_->Push(wire::kResumed, *now);
    seen_state_ = state;
    prepare_ns_ = 0;
    check_ns_ = 0;
    Rebaseline(*now);
  }
  return true;
}

// Hot path: runs once per loop iteration, before the poll. No lock, no allocation; the only
// syscall is the rate-limited CPU-time read.
void LoopHooks::OnPrepare(uv_prepare_t* handle) {
  auto* self = static_cast<LoopHooks*>(handle->data);
  uint64_t now;
  if (!self->Enter(&now)) return;
  self->ring_->Push(wire::kPollStart, now);
  if (self->check_ns_ != 0 && now - self->check_ns_ >= self->cpu_threshold_ns_) {
    self->SampleCpu(now, true);
  } else if (now - self->cpu_sample_wall_ns_ >= self->cpu_resample_ns_) {
    self->SampleCpu(now, false);
  }
  self->prepare_ns_ = now;
}

// Hot path: runs once per loop iteration, right after the poll and before setImmediate callbacks.
void LoopHooks::OnCheck(uv_check_t* handle) {
  auto* self = static_cast<LoopHooks*>(handle->data);
  uint64_t now;
  if (!self->Enter(&now)) return;
  if (self->prepare_ns_ == 0) {
    // No POLL_START for this poll (recording began inside the iteration): only move the baseline.
    self->idle_at_last_check_ns_ = uv_metrics_idle_time(self->loop_);
    self->check_ns_ = now;
    return;
  }
  uint64_t idle = uv_metrics_idle_time(self->loop_);
  // libuv adds to the idle time only inside the poll, so the reading at the previous check is
  // also the reading at this iteration's prepare: one locked read per iteration instead of two.
  uint64_t blocked = idle - self->idle_at_last_check_ns_;
  self->idle_at_last_check_ns_ = idle;
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
  uint64_t poll_ns = now - self->prepare_ns_;
  if (poll_ns > blocked && poll_ns - blocked >= self->cpu_threshold_ns_) {
    self->SampleCpu(now, true);
  } else if (now - self->cpu_sample_wall_ns_ >= self->cpu_resample_ns_) {
    self->SampleCpu(now, false);
  }
  self->check_ns_ = now;
}

// Recording (re)starts: the next THREAD_CPU and POLL_END measure from here, not across the time
// recording was paused.
void LoopHooks::Rebaseline(uint64_t now_ns) {
  SampleCpu(now_ns, false);
  idle_at_last_check_ns_ = uv_metrics_idle_time(loop_);
  uv_metrics_t metrics;
  if (ReadMetrics(loop_, &metrics)) {
    last_events_ = metrics.events;
    last_events_waiting_ = metrics.events_waiting;
  }
}

void LoopHooks::SampleCpu(uint64_t now_ns, bool emit) {
  uint64_t cpu = ThreadCpuNs();
  if (emit) {
    ring_->Push(wire::kThreadCpu, now_ns, now_ns - cpu_sample_wall_ns_, cpu - cpu_sample_cpu_ns_);
  }
  cpu_sample_wall_ns_ = now_ns;
  cpu_sample_cpu_ns_ = cpu;
}

void LoopHooks::OnSampleTimer(uv_timer_t* handle) {
  auto* self = static_cast<LoopHooks*>(handle->data);
  if (!self->Active()) return;
  // The probe in flight is ours; the application's requests are the rest.
  uint64_t requests = self->loop_->active_reqs.count;
  if (self->probe_in_flight_ && requests > 0) requests--;
  // Events waiting at the last poll (docs/FORMAT.md 6.1), as its POLL_END recorded them.
  self->ring_->Push(wire::kQueueSample, uv_hrtime(), self->loop_->active_handles, requests,
                    static_cast<uint32_t>(self->poll_events_waiting_));
}

void LoopHooks::OnProbeTimer(uv_timer_t* handle) {
  auto* self = static_cast<LoopHooks*>(handle->data);
  if (self->probe_in_flight_ || !self->Active()) return;
  self->probe_in_flight_ = true;
  self->probe_start_ns_.store(0, std::memory_order_relaxed);
  self->probe_submit_ns_ = uv_hrtime();
  if (uv_queue_work(self->loop_, &self->probe_req_, OnProbeWork, OnProbeDone) != 0) {
    self->probe_in_flight_ = false;
  }
}

void LoopHooks::OnProbeWork(uv_work_t* req) {
  static_cast<LoopHooks*>(req->data)->probe_start_ns_.store(uv_hrtime(), std::memory_order_release);
}

void LoopHooks::OnProbeDone(uv_work_t* req, int status) {
  auto* self = static_cast<LoopHooks*>(req->data);
  self->probe_in_flight_ = false;
  uint64_t started = self->probe_start_ns_.load(std::memory_order_acquire);
  if (status == 0 && started != 0 && !self->detaching_ && self->Active()) {
    uint64_t delay = started > self->probe_submit_ns_ ? started - self->probe_submit_ns_ : 0;
    self->ring_->Push(wire::kThreadpoolProbe, uv_hrtime(), delay);
  }
  if (self->detaching_) self->MaybeFinish();
}

void LoopHooks::Detach(uint32_t stop_reason) {
  if (detaching_) return;
  detaching_ = true;
  thread_->recording.store(false, std::memory_order_relaxed);
  thread_->stop_reason.store(stop_reason, std::memory_order_relaxed);
  thread_->closed.store(true, std::memory_order_release);
  if (t_hooks == this) t_hooks = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&sample_timer_), OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&probe_timer_), OnClosed);
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

void LoopHooks::OnEnvTeardown(napi_async_cleanup_hook_handle, void* arg) {
  auto* self = static_cast<LoopHooks*>(arg);
  bool terminated = self->thread_->kind != 0 && !self->exiting_;
  self->Detach(terminated ? 1 : 0);
}

}  // namespace looptrace
