#include "recorder.h"

#include <poll.h>
#include <pthread.h>
#include <unistd.h>
#include <uv.h>
#ifdef __linux__
#include <sys/eventfd.h>
#include <sys/syscall.h>
#endif

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>

#include "process_barrier.h"

namespace looptrace {

std::atomic<uint32_t> g_record_state{1};

namespace {

// The recorder outlives static destruction on purpose: a writer thread still running when the
// process exits must not meet a destructor that joins or terminates it.
std::mutex* g_current_mu = new std::mutex();
std::shared_ptr<Recorder>* g_current = new std::shared_ptr<Recorder>();
std::atomic<uint64_t> g_generation{0};

// Wakes the writer this often to drain rings, so that a busy loop's ring rarely fills.
constexpr uint64_t kDrainIntervalNs = 5'000'000;
constexpr uint64_t kBusyDrainIntervalNs = 500'000;
// After a loop wakes a parked writer, the pass comes this much later: within the flush interval,
// and long enough for that loop iteration's records to be in.
constexpr uint64_t kWokenPassDelayNs = 10'000'000;
// SELF_COST records go out this often (docs/FORMAT.md 6.3).
constexpr uint64_t kSelfCostIntervalNs = 1'000'000'000;
// SELF_COST components.
constexpr uint64_t kCostProcess = 0;
constexpr uint64_t kCostWriter = 1;
constexpr uint64_t kCostWatchdog = 2;
constexpr uint64_t kCostHooks = 3;
constexpr uint64_t kCostTimers = 4;
constexpr uint64_t kCostStacks = 5;
constexpr uint64_t kStopReasonTelemetryStopped = 2;
constexpr uint64_t kClockSyncIntervalNs = 10'000'000'000;

int FieldCount(uint8_t code) {
  switch (code) {
    case wire::kPollStart:
      return 0;
    case wire::kPollEnd:
    case wire::kQueueSample:
    case wire::kCallbackStart:
    case wire::kThreadStart:
    case wire::kStackSample:
      return 3;
    case wire::kThreadCpu:
    case wire::kGcPause:
    case wire::kOperationStart:
    case wire::kOperationEnd:
    case wire::kCallbackEnd:
    case wire::kMark:
    case wire::kUserQueueSample:
      return 2;
    default:
      return 1;
  }
}

uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t ProcessCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t WallClockNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

std::shared_ptr<Recorder> Recorder::Current() {
  std::lock_guard<std::mutex> lock(*g_current_mu);
  return *g_current;
}

Recorder::Recorder(const Config& config, std::unique_ptr<Sink> sink, std::function<void()> notify)
    : config_(config), generation_(++g_generation), sink_(std::move(sink)),
      notify_(std::move(notify)) {
#ifdef __linux__
  // Parking needs both: the eventfd to wait on, and membarrier so that loop threads need no
  // fence when they check whether the writer is parked.
  if (MembarrierReady()) writer_event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
#endif
  if (config_.attribution != nullptr && config_.stack_threshold_ns > 0) {
    watchdog_ = std::make_unique<Watchdog>(config_.attribution, config_.stack_threshold_ns,
                                           config_.stack_interval_ns);
  }
}

Recorder::~Recorder() {
  if (writer_.joinable()) writer_.detach();
  // A detached writer still running at process exit may still use it; the descriptor then
  // goes with the process.
  else if (writer_event_fd_ >= 0) close(writer_event_fd_);
}

std::shared_ptr<Recorder> Recorder::Create(const Config& config, std::unique_ptr<Sink> sink,
                                           std::function<void()> notify) {
  return std::shared_ptr<Recorder>(new Recorder(config, std::move(sink), std::move(notify)));
}

bool Recorder::Open(std::string* error) {
  last_flush_ns_ = uv_hrtime();
  last_self_cost_ns_ = last_flush_ns_;
  process_cpu_at_open_ns_ = ProcessCpuNs();
  if (!sink_->Open([this](Encoder& enc, uint64_t index) { Preamble(enc, index); }, error)) {
    sink_->Close();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& t : threads_) t->recording.store(false);
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(*g_current_mu);
    *g_current = shared_from_this();
  }
  writer_ = std::thread([this] { Run(); });
  if (watchdog_) watchdog_->Start();
  return true;
}

std::shared_ptr<ThreadState> Recorder::AddThread(uint32_t node_thread_id, uint32_t kind,
                                                 const std::string& name, bool is_main_thread) {
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t id = is_main_thread ? 1 : next_thread_id_++;
  auto t = std::make_shared<ThreadState>(id, node_thread_id, kind, name, config_.ring_capacity,
                                         uv_hrtime());
  if (stop_requested_ || !error_.empty()) t->recording.store(false);
  threads_.push_back(t);
  return t;
}

void Recorder::Run() {
  // Named so that /proc/<pid>/task/*/comm (and top -H) tell looptrace's threads apart.
  pthread_setname_np(pthread_self(), "looptrace-write");
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (failed_) {
      // Telemetry is off after a failure: nothing will be written again, so sleep until stop().
      cv_.wait(lock, [this] { return stop_requested_; });
      break;
    }
    bool enabled = (g_record_state.load(std::memory_order_relaxed) & 1) != 0;
    if (!enabled) {
      // Disabled: the pass after disable() drained and flushed what the loops had recorded;
      // sleep without a timeout until enable(), stop() or a thread's THREAD_STOP is due
      // (Wake()). No wake-ups at all while nothing can be recorded.
      cv_.wait(lock, [this] {
        return stop_requested_ || wake_requested_ || (g_record_state.load(std::memory_order_relaxed) & 1) != 0;
      });
      wake_requested_ = false;
    } else if (park_) {
      // The last pass found nothing to write and everything was flushed: no wake-ups until a
      // loop records something. Then the first pass comes a drain interval later, so that it
      // takes that loop iteration's records together.
      park_ = false;
      lock.unlock();
      uint64_t parked_at = uv_hrtime();
      if (Park()) {
        // Parked for a flush interval or more: the process was idle, flush what woke it at once.
        force_flush_ = uv_hrtime() - parked_at >= config_.flush_interval_ns;
        // Woken by a loop: its iteration (and what it caused, a probe's completion) records for
        // a few milliseconds. One pass then; after a long park it flushes, and the writer can
        // park again at once. Under a light load (short parks) the flush waits for its interval
        // as before, so frames stay as full as before.
        lock.lock();
        if (!stop_requested_) cv_.wait_for(lock, std::chrono::nanoseconds(kWokenPassDelayNs));
      } else {
        lock.lock();
        if (!stop_requested_) cv_.wait_for(lock, std::chrono::nanoseconds(kDrainIntervalNs));
      }
      wait_ns_ = kDrainIntervalNs;
    } else {
      // Each wake-up costs about the same whatever it drains (on a virtual machine, tens to
      // hundreds of microseconds of the process's CPU), so the writer aims each pass at an
      // eighth of the fullest ring: the wait scales by how far the last pass was from that, at
      // most doubling, and lies between the busy interval and the flush interval. A steady
      // server at 20k records a second is drained 20 times a second, not 100. A burst that
      // fills a ring faster than the wait foresaw wakes the writer from the loop thread at half
      // a ring (LoopHooks::NoteRecords), so it is drained before the ring can fill.
      uint64_t target = std::max<size_t>(config_.ring_capacity / 8, 1);
      // A ring that filled while this pass wrote (its hurry came while the writer was not
      // waiting, and is not repeated until the ring drains) is drained at once.
      if (fullest_drained_ >= config_.ring_capacity / 4 || LargestBacklog() >= config_.ring_capacity / 4) {
        wait_ns_ = kBusyDrainIntervalNs;
      } else if (fullest_drained_ == 0) {
        wait_ns_ = std::max<uint64_t>(wait_ns_, kDrainIntervalNs) * 2;
      } else {
        uint64_t base = std::max<uint64_t>(wait_ns_, kBusyDrainIntervalNs);
        wait_ns_ = std::min<uint64_t>(base * 2, base * target / fullest_drained_);
      }
      wait_ns_ = std::clamp<uint64_t>(wait_ns_, kBusyDrainIntervalNs, config_.flush_interval_ns);
      cv_.wait_for(lock, std::chrono::nanoseconds(wait_ns_));
    }
    if (stop_requested_) break;
    // This pass does what a Wake() asked for (a THREAD_STOP due, enable()): a later Wake() sets
    // it again. Left set, it would keep Park() from ever parking again.
    wake_requested_ = false;
    lock.unlock();
    uint64_t now = uv_hrtime();
    // A pass while disabled is the last before sleeping: it flushes everything.
    bool flush = !enabled || force_flush_ || (g_record_state.load(std::memory_order_relaxed) & 1) == 0 ||
                 now - last_flush_ns_ >= config_.flush_interval_ns;
    // The pass after a park of a flush interval or more: the process was idle before it.
    bool after_idle = force_flush_;
    force_flush_ = false;
    Cycle(flush);
    if (flush) last_flush_ns_ = now;
    NoteWriterCpu();
    // After a flush that left nothing behind, park (Park() looks at the rings once more), but
    // only once the loops have gone quiet: this pass found nothing to drain, or it took what a
    // loop recorded after an idle stretch. A loop that records all the time would otherwise
    // wake a parked writer right after each flush: an eventfd write on the loop's thread, a
    // process-wide barrier and two wake-ups of the writer, where a timed wait costs one.
    park_ = enabled && flush && writer_event_fd_ >= 0 && !failed_ && !frames_open_ && !unflushed_ &&
            (fullest_drained_ == 0 || after_idle);
    lock.lock();
  }
  lock.unlock();
  stopping_ = true;
  Cycle(true);
  NoteWriterCpu();
  sink_->Close();
}

// The writer's CPU clock, never moving backwards: on a virtual machine a thread's CPU clock can
// step back by a microsecond or two when the thread moves between cores.
uint64_t Recorder::NoteWriterCpu() {
  uint64_t cpu = std::max(ThreadCpuNs(), writer_cpu_ns_.load(std::memory_order_relaxed));
  writer_cpu_ns_.store(cpu, std::memory_order_relaxed);
  return cpu;
}

void Recorder::Wake() {
  {
    // Under the lock, so that a writer between its check and its wait cannot miss it.
    std::lock_guard<std::mutex> lock(mu_);
    wake_requested_ = true;
  }
  cv_.notify_all();
  SignalWriter();
}

void Recorder::SignalWriter() {
  if (writer_event_fd_ < 0) return;
  uint64_t one = 1;
  // Non-blocking; an eventfd counter cannot overflow from these few writes.
  ssize_t n = write(writer_event_fd_, &one, sizeof one);
  (void)n;
}

// The most records waiting in one ring now. Under mu_.
size_t Recorder::LargestBacklog() {
  size_t most = 0;
  for (auto& t : threads_) most = std::max(most, t->ring.Backlog());
  return most;
}

// Records in some ring, a thread whose THREAD_STOP is due, or a reason to run a pass anyway.
bool Recorder::AnyRecords() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_requested_ || wake_requested_ || (g_record_state.load(std::memory_order_relaxed) & 1) == 0) return true;
  for (auto& t : threads_) {
    if (!t->ring.Empty() || (t->closed.load(std::memory_order_acquire) && !t->stop_written)) return true;
  }
  return false;
}

bool Recorder::Park() {
  // Under load the rings are rarely empty: no barrier (it interrupts every running thread) then.
  if (AnyRecords()) return false;
  writer_parked_.store(true, std::memory_order_seq_cst);
  // Every loop thread's earlier pushes become visible to the look below, and its later checks
  // of the flag see it set.
  if (!ProcessWideBarrier() || AnyRecords()) {
    writer_parked_.store(false, std::memory_order_seq_cst);
    return false;
  }
  pollfd p{};
  p.fd = writer_event_fd_;
  p.events = POLLIN;
  while (poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
  writer_parked_.store(false, std::memory_order_seq_cst);
  uint64_t count;
  while (read(writer_event_fd_, &count, sizeof count) > 0) {
  }
  return true;
}

void Recorder::Stop() {
  std::call_once(stop_once_, [this] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_requested_ = true;
      for (auto& t : threads_) t->recording.store(false, std::memory_order_relaxed);
    }
    if (watchdog_) watchdog_->Stop();
    cv_.notify_all();
    SignalWriter();
    if (writer_.joinable()) writer_.join();
    std::lock_guard<std::mutex> lock(*g_current_mu);
    if (g_current->get() == this) g_current->reset();
  });
}

void Recorder::Fail(const std::string& message) {
  failed_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.empty()) error_ = message;
    for (auto& t : threads_) t->recording.store(false, std::memory_order_relaxed);
  }
  sink_->Close();
  if (notify_) notify_();
}

std::string Recorder::Error() {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

Stats Recorder::GetStats() {
  Stats s;
  s.records = records_.load();
  s.bytes = bytes_.load();
  s.frames = frames_.load();
  s.main_records = main_records_.load();
  s.stack_samples = stack_samples_.load();
  s.stack_sample_ns = stack_sample_ns_.load();
  s.dropped_records = dropped_of_removed_threads_.load();
  s.self.writer_ns = writer_cpu_ns_.load(std::memory_order_relaxed);
  s.self.watchdog_ns = watchdog_ ? watchdog_->cpu_ns() : 0;
  s.self.process_ns = ProcessCpuNs() - process_cpu_at_open_ns_;
  std::lock_guard<std::mutex> lock(mu_);
  s.self.hooks_ns = removed_hooks_ns_.load(std::memory_order_relaxed);
  s.self.timers_ns = removed_timers_ns_.load(std::memory_order_relaxed);
  s.self.stacks_ns = removed_stacks_ns_.load(std::memory_order_relaxed);
  for (auto& t : threads_) {
    s.dropped_records += t->ring.DroppedTotal();
    s.self.hooks_ns += t->hooks_ns.load(std::memory_order_relaxed);
    s.self.timers_ns += t->timers_ns.load(std::memory_order_relaxed);
    s.self.stacks_ns += t->stacks_ns.load(std::memory_order_relaxed);
  }
  s.threads = threads_.size();
  s.errors = error_.empty() ? 0 : 1;
  s.files = sink_->files();
  s.dropped_bytes = sink_->dropped_bytes();
  return s;
}

// One pass of the writer: drain every ring into its thread's open frame; on a flush, close the
// frames and push everything to the sink.
void Recorder::Cycle(bool flush) {
  if (failed_) return;
  std::vector<std::shared_ptr<ThreadState>> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads = threads_;
  }
  uint64_t now = uv_hrtime();
  if (now - last_clock_sync_ns_ >= kClockSyncIntervalNs) {
    last_clock_sync_ns_ = now;
    int64_t offset = static_cast<int64_t>(WallClockNs() - config_.origin_wall_unix_ns) -
                     static_cast<int64_t>(Relative(now));
    WriteProcessFrame([&](Encoder& enc) {
      enc.BeginFrame(0, Relative(now));
      enc.Counted(wire::kClockSync, Relative(now), 1, Zigzag(offset));
      enc.EndFrame();
    });
  }
  // Each ring is drained only up to where it stood before the pending definitions were taken,
  // so that every record drained now references only definitions already written.
  std::vector<uint64_t> heads(threads.size());
  std::vector<bool> closed(threads.size());
  for (size_t i = 0; i < threads.size(); i++) {
    // Read closed before the head: whatever the thread pushed before closing is then drained.
    closed[i] = threads[i]->closed.load(std::memory_order_acquire);
    heads[i] = threads[i]->ring.Head();
  }
  if (!defs_.WritePending(Relative(now), config_.target_frame_bytes,
                          [this](const Encoder& enc) { return enc.size() == 0 || WriteFrame(enc); })) {
    return;
  }
  std::vector<ThreadState*> finished;
  fullest_drained_ = 0;
  frames_open_ = false;
  // Once a second, on every pass while disabled (the last before the writer sleeps) and at
  // the end: what looptrace cost since the previous SELF_COST records.
  bool self_cost = stopping_ || (g_record_state.load(std::memory_order_relaxed) & 1) == 0 ||
                   now - last_self_cost_ns_ >= kSelfCostIntervalNs;
  for (size_t i = 0; i < threads.size(); i++) {
    if (failed_) return;
    auto& t = threads[i];
    bool closed_now = closed[i];
    Drain(*t, heads[i]);
    if (uint64_t epoch = aggregation_epoch_.load(std::memory_order_relaxed)) {
      // A long task whose closing POLL_START was the thread's latest record: its CPU sample,
      // pushed in the same hook call, has been drained with it or is lost to this task.
      std::lock_guard<std::mutex> lock(t->agg.mu);
      LongTask task;
      if (t->agg.epoch == epoch && t->agg.TakePending(&task)) QueueLongTask(*t, task);
    }
    if ((self_cost || closed_now) && !t->stop_written) {
      // Stamped with the thread's latest record, which is where the cost it reports ends: a
      // thread's stream then has no record while telemetry was disabled (RESUMED follows the
      // gap directly). A thread with no record yet is stamped now.
      uint64_t at = t->enc.LastTimeNs() != 0 ? t->enc.LastTimeNs() : Relative(std::max(now, uv_hrtime()));
      uint64_t hooks = t->hooks_ns.load(std::memory_order_relaxed);
      uint64_t timers = t->timers_ns.load(std::memory_order_relaxed);
      uint64_t stacks = t->stacks_ns.load(std::memory_order_relaxed);
      if (hooks > t->reported_hooks_ns || timers > t->reported_timers_ns || stacks > t->reported_stacks_ns) {
        if (!t->start_announced) Announce(*t);
        if (!t->enc.FrameOpen()) t->enc.BeginFrame(t->thread_id, at);
        // Each part only grows; a part that did not is reported as 0, never as a wrapped
        // difference.
        hooks = std::max(hooks, t->reported_hooks_ns);
        timers = std::max(timers, t->reported_timers_ns);
        stacks = std::max(stacks, t->reported_stacks_ns);
        t->enc.Counted(wire::kSelfCost, at, 2, kCostHooks, hooks - t->reported_hooks_ns);
        t->enc.Counted(wire::kSelfCost, at, 2, kCostTimers, timers - t->reported_timers_ns);
        if (stacks > t->reported_stacks_ns) {
          t->enc.Counted(wire::kSelfCost, at, 2, kCostStacks, stacks - t->reported_stacks_ns);
          records_++;
        }
        records_ += 2;
        t->reported_hooks_ns = hooks;
        t->reported_timers_ns = timers;
        t->reported_stacks_ns = stacks;
      }
    }
    if (closed_now) {
      uint64_t at = std::max(Relative(now), t->enc.LastTimeNs());
      if (!t->enc.FrameOpen()) t->enc.BeginFrame(t->thread_id, at);
      t->enc.Counted(wire::kThreadStop, at, 1,
                     t->stop_reason.load(std::memory_order_relaxed));
      records_++;
      CloseFrame(*t);
      // Set after the write: a frame that makes the file rotate lands in the new file.
      t->stop_written = true;
      finished.push_back(t.get());
    } else if (stopping_) {
      uint64_t at = std::max(Relative(now), t->enc.LastTimeNs());
      if (!t->enc.FrameOpen()) t->enc.BeginFrame(t->thread_id, at);
      t->enc.Counted(wire::kThreadStop, at, 1, kStopReasonTelemetryStopped);
      records_++;
      CloseFrame(*t);
    } else if (flush && t->enc.FrameOpen()) {
      CloseFrame(*t);
    }
    if (t->enc.FrameOpen()) frames_open_ = true;
  }
  if (long_task_queued_) {
    long_task_queued_ = false;
    if (notify_long_tasks_.load(std::memory_order_relaxed) && notify_) notify_();
  }
  if (failed_) return;
  if (self_cost) WriteSelfCost(now, threads);
  if (failed_) return;
  if (flush) {
    std::string error;
    if (!sink_->Flush(&error)) return Fail(error);
    unflushed_ = false;
  }
  if (!finished.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    for (ThreadState* f : finished) {
      dropped_of_removed_threads_ += f->ring.DroppedTotal();
      removed_hooks_ns_ += f->hooks_ns.load(std::memory_order_relaxed);
      removed_timers_ns_ += f->timers_ns.load(std::memory_order_relaxed);
      removed_stacks_ns_ += f->stacks_ns.load(std::memory_order_relaxed);
      threads_.erase(std::remove_if(threads_.begin(), threads_.end(),
                                    [f](const std::shared_ptr<ThreadState>& t) {
                                      return t.get() == f;
                                    }),
                     threads_.end());
    }
  }
}

// The process stream's SELF_COST records: the whole process's CPU time (the denominator), the
// writer's and the watchdog's, each since the previous ones.
void Recorder::WriteSelfCost(uint64_t now, const std::vector<std::shared_ptr<ThreadState>>&) {
  last_self_cost_ns_ = now;
  uint64_t process = ProcessCpuNs() - process_cpu_at_open_ns_;
  uint64_t writer = NoteWriterCpu();
  uint64_t watchdog = watchdog_ ? watchdog_->cpu_ns() : 0;
  uint64_t at = Relative(std::max(now, uv_hrtime()));
  WriteProcessFrame([&](Encoder& enc) {
    enc.BeginFrame(0, at);
    enc.Counted(wire::kSelfCost, at, 2, kCostProcess, process - std::min(process, reported_process_ns_));
    enc.Counted(wire::kSelfCost, at, 2, kCostWriter, writer - std::min(writer, reported_writer_ns_));
    if (watchdog_) {
      enc.Counted(wire::kSelfCost, at, 2, kCostWatchdog, watchdog - std::min(watchdog, reported_watchdog_ns_));
    }
    enc.EndFrame();
  });
  records_ += watchdog_ ? 3 : 2;
  reported_process_ns_ = process;
  reported_writer_ns_ = writer;
  reported_watchdog_ns_ = watchdog;
}

void Recorder::Drain(ThreadState& t, uint64_t head) {
  size_t drained = 0;
  for (;;) {
    size_t n = t.ring.Pop(batch_.data(), batch_.size(), head);
    drained += n;
    fullest_drained_ = std::max(fullest_drained_, drained);
    if (n == 0) return;
    if (uint64_t epoch = aggregation_epoch_.load(std::memory_order_relaxed)) {
      Aggregate(t, batch_.data(), n, epoch);
    }
    if (!t.start_announced) Announce(t);
    for (size_t i = 0; i < n && !failed_; i++) {
      const Event& e = batch_[i];
      uint64_t time = Relative(e.time_ns);
      if (!t.enc.FrameOpen()) {
        t.enc.BeginFrame(t.thread_id, time);
      }
      if (e.code == wire::kStackSample) {
        // The ring keeps the lag in the 64-bit slot: stackId, reason, lagNs on the wire.
        t.enc.Counted(e.code, time, 3, e.f0, e.f2, e.f1);
      } else {
        t.enc.Counted(e.code, time, FieldCount(e.code), e.f0, e.f1, e.f2);
        // Later files need not repeat the trace context of an operation that has ended.
        if (e.code == wire::kOperationEnd) defs_.EndOperation(e.f0);
      }
      if (t.enc.FrameBodyBytes() >= config_.target_frame_bytes) CloseFrame(t);
    }
    records_ += n;
    if (t.thread_id == 1) main_records_ += n;
    if (failed_ || n < batch_.size()) return;
  }
}

// The OpenTelemetry bridge's aggregates: one lock per drained batch, taken by JavaScript only at
// metric-collection time.
void Recorder::Aggregate(ThreadState& t, const Event* events, size_t n, uint64_t epoch) {
  std::lock_guard<std::mutex> lock(t.agg.mu);
  if (t.agg.epoch != epoch) {
    t.agg.published = ThreadAggregates();
    t.agg.Forget();
    LongTask stale;
    t.agg.TakePending(&stale);
    t.agg.epoch = epoch;
  }
  uint64_t long_task_ns = long_task_ns_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < n; i++) {
    LongTask task;
    if (t.agg.Observe(events[i], long_task_ns, defs_, &task)) QueueLongTask(t, task);
  }
}

void Recorder::QueueLongTask(ThreadState& t, LongTask task) {
  // Monotonic readings to wall-clock time, through the trace's origin pair.
  auto wall = [this](uint64_t mono) {
    return config_.origin_wall_unix_ns + (mono > config_.origin_mono_ns ? mono - config_.origin_mono_ns : 0);
  };
  task.start_unix_ns = wall(task.start_unix_ns);
  task.end_unix_ns = wall(task.end_unix_ns);
  task.thread_id = t.thread_id;
  task.node_thread_id = t.node_thread_id;
  task.thread_name = t.name;
  // Bounded: the bridge takes them at each notification; a JavaScript side that does not keep up
  // loses the newest, counted.
  constexpr size_t kMaxQueuedLongTasks = 256;
  std::lock_guard<std::mutex> lock(long_mu_);
  if (long_tasks_.size() >= kMaxQueuedLongTasks) {
    long_tasks_dropped_++;
    return;
  }
  long_tasks_.push_back(task);
  long_task_queued_ = true;
}

void Recorder::SetAggregation(bool on, uint64_t long_task_ns, bool notify) {
  static std::atomic<uint64_t> epochs{0};
  long_task_ns_.store(long_task_ns, std::memory_order_relaxed);
  notify_long_tasks_.store(notify, std::memory_order_relaxed);
  // Already on: keep the aggregates (a second call only changes the long-task settings).
  if (on && aggregation_epoch_.load(std::memory_order_relaxed) != 0) return;
  aggregation_epoch_.store(on ? ++epochs : 0, std::memory_order_relaxed);
  if (!on) {
    std::lock_guard<std::mutex> lock(long_mu_);
    long_tasks_.clear();
  }
}

std::deque<LongTask> Recorder::TakeLongTasks(uint64_t* dropped) {
  std::lock_guard<std::mutex> lock(long_mu_);
  std::deque<LongTask> out;
  out.swap(long_tasks_);
  *dropped = long_tasks_dropped_;
  return out;
}

void Recorder::CloseFrame(ThreadState& t) {
  t.enc.EndFrame();
  if (!WriteFrame(t.enc)) return;
  t.enc.Clear();
}

bool Recorder::WriteFrame(const Encoder& enc) {
  if (failed_) return false;
  std::string error;
  if (!sink_->WriteFrame(enc.data(), enc.size(), &error)) {
    Fail(error);
    return false;
  }
  bytes_ += enc.size();
  frames_++;
  unflushed_ = true;
  return true;
}

void Recorder::WriteProcessFrame(const std::function<void(Encoder&)>& fill) {
  Encoder enc;
  fill(enc);
  WriteFrame(enc);
}

// A thread that started after the current file was opened: define its name and give it a
// THREAD_START record before its first records.
void Recorder::Announce(ThreadState& t) {
  t.start_announced = true;
  if (t.announced_generation == file_generation_) return;
  uint64_t name_id = defs_.InternString(t.name);
  uint64_t time = Relative(t.start_mono_ns);
  if (!defs_.WritePending(time, config_.target_frame_bytes,
                          [this](const Encoder& enc) { return enc.size() == 0 || WriteFrame(enc); })) {
    return;
  }
  if (!t.enc.FrameOpen()) t.enc.BeginFrame(t.thread_id, time);
  t.enc.Counted(wire::kThreadStart, time, 3, t.node_thread_id, name_id, t.kind);
  records_++;
  t.announced_generation = file_generation_;
}

// The start of every file: magic, header with the live threads, and every string defined so far,
// so that the file decodes alone.
void Recorder::Preamble(Encoder& enc, uint64_t file_index) {
  file_generation_++;
  uint64_t now = uv_hrtime();
  HeaderInfo h;
  std::copy(std::begin(config_.trace_id), std::end(config_.trace_id), h.trace_id);
  h.file_index = file_index;
  h.origin_mono_ns = config_.origin_mono_ns;
  h.origin_wall_unix_ns = config_.origin_wall_unix_ns;
  h.file_start_ns = Relative(now);
  h.has_pid = true;
  h.pid = config_.pid;
  h.hostname = config_.hostname;
  h.node_version = config_.node_version;
  h.service_name = config_.service_name;
  h.producer = config_.producer;
  h.platform = config_.platform;
  h.has_threadpool_size = config_.threadpool_size != 0;
  h.threadpool_size = config_.threadpool_size;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& t : threads_) {
      // A closed thread whose last records are still being written (they may be what made the
      // file rotate) stays in the header, so that the new file names it.
      if (t->stop_written) continue;
      h.threads.push_back({t->thread_id, t->node_thread_id, t->kind, t->name});
      t->announced_generation = file_generation_;
    }
  }
  // Always written, even 0: a reader then knows that what is missing was not recorded.
  h.has_capabilities = true;
  h.capabilities = config_.Capabilities();
  h.attribution_note = config_.attribution_note;
  if (config_.attribution != nullptr && config_.stack_threshold_ns > 0) {
    h.has_stack_sampling = true;
    h.stack_threshold_ns = config_.stack_threshold_ns;
    h.stack_interval_ns = config_.stack_interval_ns;
  }
  enc.WriteMagic();
  enc.WriteHeader(h);
  defs_.WriteAll(enc, h.file_start_ns, config_.target_frame_bytes);
  int64_t offset = static_cast<int64_t>(WallClockNs() - config_.origin_wall_unix_ns) -
                   static_cast<int64_t>(h.file_start_ns);
  enc.BeginFrame(0, h.file_start_ns);
  enc.Counted(wire::kClockSync, h.file_start_ns, 1, Zigzag(offset));
  enc.EndFrame();
  last_clock_sync_ns_ = now;
  bytes_ += enc.size();
}

}  // namespace looptrace
