#include "watchdog.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "recorder.h"

namespace looptrace {

namespace {

constexpr uint64_t kMinSleepNs = 1'000'000;
constexpr uint64_t kCpuReadIntervalNs = 1'000'000'000;

uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

Watchdog::Watchdog(const LtAttributionApi* api, uint64_t threshold_ns, uint64_t interval_ns)
    : api_(api), threshold_ns_(threshold_ns), interval_ns_(std::max<uint64_t>(interval_ns, kMinSleepNs)),
      // A stretch that begins just after a look is seen at most this late: the first sample
      // lands between the threshold and one and a half thresholds into it.
      idle_tick_ns_(std::max<uint64_t>(threshold_ns / 2, kMinSleepNs)) {}

Watchdog::~Watchdog() { Stop(); }

void Watchdog::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void Watchdog::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::Add(const std::shared_ptr<WatchedLoop>& loop) {
  std::lock_guard<std::mutex> lock(mu_);
  loops_.push_back(loop);
}

void Watchdog::Remove(WatchedLoop* loop) {
  {
    // Taken after any Scan() that holds it: once cleared, the watchdog skips this loop.
    std::lock_guard<std::mutex> entry(loop->mu);
    loop->loop = nullptr;
    loop->attr = nullptr;
  }
  std::lock_guard<std::mutex> lock(mu_);
  loops_.erase(std::remove_if(loops_.begin(), loops_.end(),
                              [loop](const std::shared_ptr<WatchedLoop>& l) { return l.get() == loop; }),
               loops_.end());
}

void Watchdog::Wake() {
  // Under the lock: a watchdog between its check of the state and its wait cannot miss it.
  { std::lock_guard<std::mutex> lock(mu_); }
  cv_.notify_all();
}

void Watchdog::Run() {
  pthread_setname_np(pthread_self(), "looptrace-watch");
  uint64_t last_cpu_read_ns = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if ((g_record_state.load(std::memory_order_relaxed) & 1) == 0) {
      // Disabled: no wake-ups at all until enable() or stop(). The CPU clock first, so that
      // stats() and SELF_COST see everything the watchdog used.
      cpu_ns_.store(ThreadCpuNs(), std::memory_order_relaxed);
      cv_.wait(lock, [this] { return stop_ || (g_record_state.load(std::memory_order_relaxed) & 1) != 0; });
      continue;
    }
    lock.unlock();
    uint64_t now = uv_hrtime();
    uint64_t sleep_ns = Scan(now);
    if (now - last_cpu_read_ns >= kCpuReadIntervalNs) {
      cpu_ns_.store(ThreadCpuNs(), std::memory_order_relaxed);
      last_cpu_read_ns = now;
    }
    lock.lock();
    if (stop_) break;
    cv_.wait_for(lock, std::chrono::nanoseconds(sleep_ns));
  }
  lock.unlock();
  cpu_ns_.store(ThreadCpuNs(), std::memory_order_relaxed);
}

uint64_t Watchdog::Scan(uint64_t now) {
  std::vector<std::shared_ptr<WatchedLoop>> loops;
  {
    std::lock_guard<std::mutex> lock(mu_);
    loops = loops_;
  }
  uint64_t sleep_ns = idle_tick_ns_;
  for (const auto& w : loops) {
    std::lock_guard<std::mutex> entry(w->mu);
    if (w->loop == nullptr || w->attr == nullptr) continue;
    if (w->recording == nullptr || !w->recording->load(std::memory_order_relaxed)) continue;
    if (w->phase_state.load(std::memory_order_relaxed) != g_record_state.load(std::memory_order_relaxed)) continue;
    uint64_t phase = w->phase.load(std::memory_order_acquire);
    if (phase == 0) continue;
    uint64_t idle_base = w->idle_at_prepare_ns.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    // The loop moved to another phase while we read: look again at the next tick.
    if (w->phase.load(std::memory_order_relaxed) != phase) continue;
    uint64_t busy_start = phase >> 1;
    if (phase & 1) {
      // Inside the poll phase: the loop waited for I/O for `blocked` of it, and has been running
      // I/O callbacks since, unless it is still waiting (then busy_start is now or later).
      uint64_t idle = uv_metrics_idle_time(w->loop);
      busy_start += idle > idle_base ? idle - idle_base : 0;
    }
    if (busy_start >= now) continue;
    uint64_t busy_ns = now - busy_start;
    if (busy_ns < threshold_ns_) {
      sleep_ns = std::min(sleep_ns, threshold_ns_ - busy_ns);
      continue;
    }
    if (w->stretch_start_ns != busy_start) {
      w->stretch_start_ns = busy_start;
      w->next_sample_ns = now;
    }
    if (now >= w->next_sample_ns) {
      w->requested_phase.store(phase, std::memory_order_relaxed);
      if (api_->request_stack(w->attr, now)) requests_.fetch_add(1, std::memory_order_relaxed);
      w->next_sample_ns = now + interval_ns_;
    }
    sleep_ns = std::min(sleep_ns, w->next_sample_ns - now);
  }
  return std::max(sleep_ns, kMinSleepNs);
}

}  // namespace looptrace
