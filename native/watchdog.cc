#include "watchdog.h"

#include <pthread.h>
#include <unistd.h>
#include <poll.h>
#ifdef __linux__
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#endif

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>

#include "process_barrier.h"
#include "recorder.h"

namespace looptrace {

namespace {

constexpr uint64_t kMinSleepNs = 1'000'000;
constexpr uint64_t kCpuReadIntervalNs = 1'000'000'000;
// How often a parked watchdog glances at the loops without unparking (watchdog.h, "Idle"). A
// bound, not the mechanism: entering JavaScript and the check hook wake the watchdog. JavaScript
// that a V8 platform task starts inside the poll phase (a promise it resolves, such as a waitAsync
// notified by a thread looptrace does not record) wakes neither: its first stack comes at most
// this late. A glance is a few lock-protected reads per loop.
constexpr int kParkedLookMs = 5000;
// A loop that iterated at most this often between two looks and sleeps in its poll lets the
// watchdog park: a wake-up of an idle loop is typically two iterations (a timer, then the
// completion it caused).
constexpr uint64_t kQuietIterations = 2;

// Whether the loop is waiting in its poll right now: libuv's idle-time counter, read from another
// thread, includes the wait in progress, so it grows between two reads only while the loop waits.
bool WaitingInPoll(uv_loop_t* loop) {
  uint64_t a = uv_metrics_idle_time(loop);
  uint64_t b = uv_metrics_idle_time(loop);
  return b > a;
}

uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// The eventfd a parked watchdog waits on: one per process, made at first use and never closed,
// because loop threads of any recorder may write it (WakeParkedWatchdog) at any time. -1 where it
// cannot be made (not Linux): the watchdog then never parks.
int WakeFd() {
#ifdef __linux__
  static const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return fd;
#else
  return -1;
#endif
}

// The timer a parked watchdog also waits on (watchdog.h, "Idle"): a loop thread that enters
// JavaScript arms it to fire a threshold later and disarms it when its iteration ends, so the
// watchdog wakes only for an iteration that lasts a threshold. One per process, made at first use
// and never closed; -1 where it cannot be made (every wake-up then goes through the eventfd).
int TimerFd() {
#ifdef __linux__
  static const int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  return fd;
#else
  return -1;
#endif
}

// The loop thread whose iteration the timer is armed for (its token), or 0. Set and cleared only
// by that thread, so that a disarm can never cancel another loop's timer.
uintptr_t g_timer_owner = 0;
// What the timer is armed to: the running watchdog's stack threshold; 0 when none runs.
uint64_t g_arm_ns = 0;
// Arming and disarming are two syscalls per iteration. A loop that iterates more often than this
// wakes the watchdog instead, which then ticks (a look per threshold) rather than park: cheaper
// for a loop that iterates hundreds of times a second.
constexpr uint64_t kMinArmGapNs = 5'000'000;
thread_local char t_token;
thread_local uint64_t t_last_arm_ns = 0;

uintptr_t ThreadToken() { return reinterpret_cast<uintptr_t>(&t_token); }

bool ArmTimer(uint64_t ns) {
#ifdef __linux__
  itimerspec its{};
  its.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000ull);
  its.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000ull);
  return timerfd_settime(TimerFd(), 0, &its, nullptr) == 0;
#else
  (void)ns;
  return false;
#endif
}

void DrainFd(int fd) {
  uint64_t count;
  while (fd >= 0 && read(fd, &count, sizeof count) > 0) {
  }
}

void SignalWakeFd() {
  int fd = WakeFd();
  if (fd < 0) return;
  uint64_t one = 1;
  // Cannot block (non-blocking) and cannot meaningfully fail: a full counter is still readable.
  ssize_t n = write(fd, &one, sizeof one);
  (void)n;
}

}  // namespace

uint32_t g_watchdog_parked = 0;

void WakeParkedWatchdog() {
  uintptr_t me = ThreadToken();
  uintptr_t owner = __atomic_load_n(&g_timer_owner, __ATOMIC_ACQUIRE);
  // Armed for this thread's iteration already: every later entry into JavaScript in it is covered.
  if (owner == me) return;
  uint64_t arm_ns = __atomic_load_n(&g_arm_ns, __ATOMIC_RELAXED);
  if (owner == 0 && arm_ns != 0 && TimerFd() >= 0) {
    uint64_t now = uv_hrtime();
    if (now - t_last_arm_ns >= kMinArmGapNs &&
        __atomic_compare_exchange_n(&g_timer_owner, &owner, me, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      t_last_arm_ns = now;
      // The watchdog stays parked: it wakes when the timer fires, a threshold from now, only if
      // this iteration is still running then (DisarmWatchdogTimer ends it otherwise).
      if (ArmTimer(arm_ns)) return;
      __atomic_store_n(&g_timer_owner, 0, __ATOMIC_RELEASE);
    }
  }
  // Another loop holds the timer, this loop iterates too often, or there is no timer: wake it.
  WakeParkedWatchdogNow();
}

void WakeParkedWatchdogNow() {
  if (__atomic_exchange_n(&g_watchdog_parked, 0u, __ATOMIC_SEQ_CST) != 0) SignalWakeFd();
}

void DisarmWatchdogTimer() {
  // Every iteration's prepare hook: nothing armed (the common case, and always under load) costs
  // one load, without the thread-local lookup.
  uintptr_t owner = __atomic_load_n(&g_timer_owner, __ATOMIC_RELAXED);
  if (owner == 0 || owner != ThreadToken()) return;
  // Disarmed before the ownership is given up: no other loop can arm it in between, so this
  // never cancels another loop's timer. A timer that fired already left an expiration that the
  // watchdog reads (or drains before it parks again).
  ArmTimer(0);
  __atomic_store_n(&g_timer_owner, 0, __ATOMIC_RELEASE);
}

Watchdog::Watchdog(const LtAttributionApi* api, uint64_t threshold_ns, uint64_t interval_ns)
    : api_(api), threshold_ns_(threshold_ns), interval_ns_(std::max<uint64_t>(interval_ns, kMinSleepNs)),
      // With no stretch in sight, look again a threshold later: a stretch that begins just after
      // this look is then younger than the threshold at the next one, which sleeps until it
      // reaches the threshold (Scan). So the first sample still comes at the threshold, and a
      // busy loop costs one look per threshold (33 a second at the default 30 ms), not two.
      idle_tick_ns_(std::max<uint64_t>(threshold_ns, kMinSleepNs)) {}

Watchdog::~Watchdog() { Stop(); }

void Watchdog::Signal() { SignalWakeFd(); }

void Watchdog::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  // A loop of an earlier trace may have armed the timer and lost its hooks before its iteration
  // ended: its claim would otherwise keep that thread from ever waking this watchdog.
  if (TimerFd() >= 0) ArmTimer(0);
  __atomic_store_n(&g_timer_owner, 0, __ATOMIC_RELEASE);
  __atomic_store_n(&g_arm_ns, std::max<uint64_t>(threshold_ns_, kMinSleepNs), __ATOMIC_RELAXED);
  thread_ = std::thread([this] { Run(); });
}

void Watchdog::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  __atomic_store_n(&g_arm_ns, 0, __ATOMIC_RELAXED);
  cv_.notify_all();
  Signal();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::Add(const std::shared_ptr<WatchedLoop>& loop) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    loops_.push_back(loop);
  }
  // A parked watchdog looked at the loops it had: it looks again, with this one.
  Signal();
}

void Watchdog::Remove(WatchedLoop* loop) {
  {
    // Taken after any Scan() that holds it: once cleared, the watchdog skips this loop.
    std::lock_guard<std::mutex> entry(loop->mu);
    loop->loop = nullptr;
    loop->attr = nullptr;
    loop->nudge = nullptr;
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
  Signal();
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
    bool quiet = false;
    uint64_t sleep_ns = Scan(now, &quiet);
    if (quiet && TryPark()) {
      // Every loop sleeps: so does the watchdog, until one wakes. The CPU clock first, so that
      // stats() and SELF_COST see everything it used.
      cpu_ns_.store(ThreadCpuNs(), std::memory_order_relaxed);
      ParkEnd end = WaitParked();
      last_cpu_read_ns = uv_hrtime();
      cpu_ns_.store(ThreadCpuNs(), std::memory_order_relaxed);
      lock.lock();
      // Woken by a loop: its stretch began at most now, so it cannot reach the threshold before
      // a threshold from now. The first look is then, not at once. After the timer or the bound,
      // at once: an iteration has lasted a threshold, or a loop may have been busy for a while
      // without waking the watchdog.
      if (end == ParkEnd::kWoken && !stop_) cv_.wait_for(lock, std::chrono::nanoseconds(threshold_ns_));
      continue;
    }
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

// Parking needs the wake eventfd and membarrier; without them the watchdog ticks while enabled.
bool Watchdog::TryPark() {
  if (WakeFd() < 0 || !MembarrierReady()) return false;
  std::vector<std::shared_ptr<WatchedLoop>> loops;
  {
    std::lock_guard<std::mutex> lock(mu_);
    loops = loops_;
  }
  // An expiration left by an iteration that the watchdog saw awake (it woke for another reason,
  // or the iteration ended after the timer fired): it must not end the park at once.
  DrainFd(TimerFd());
  // Parked first, then a barrier on every thread, then looked at: a loop thread that enters
  // JavaScript after the barrier reads the flag and arms the timer or wakes the watchdog; one
  // that did before it had left its poll before, which the look below sees (libuv's idle time
  // stopped growing).
  __atomic_store_n(&g_watchdog_parked, 1u, __ATOMIC_SEQ_CST);
  bool quiet = ProcessWideBarrier();
  for (size_t i = 0; quiet && i < loops.size(); i++) {
    WatchedLoop* w = loops[i].get();
    std::lock_guard<std::mutex> entry(w->mu);
    if (w->loop == nullptr || w->attr == nullptr) continue;
    if (w->recording == nullptr || !w->recording->load(std::memory_order_relaxed)) continue;
    uint64_t phase = w->phase.load(std::memory_order_acquire);
    bool current = w->phase_state.load(std::memory_order_relaxed) == g_record_state.load(std::memory_order_relaxed);
    if (current && phase != 0 && (phase & 1) == 0) quiet = false;
    if (w->entries_unwatched.load(std::memory_order_relaxed) != 0) quiet = false;
    if (quiet && !WaitingInPoll(w->loop)) quiet = false;
  }
  if (quiet) return true;
  // A loop may have woken it meanwhile: the eventfd's token only makes the next park shorter.
  __atomic_store_n(&g_watchdog_parked, 0u, __ATOMIC_SEQ_CST);
  return false;
}

Watchdog::ParkEnd Watchdog::WaitParked() {
  ParkEnd end = ParkEnd::kWoken;
  pollfd fds[2]{};
  fds[0].fd = WakeFd();
  fds[0].events = POLLIN;
  // Where there is no timer, poll() ignores a negative fd.
  fds[1].fd = TimerFd();
  fds[1].events = POLLIN;
  for (;;) {
    int n = poll(fds, 2, kParkedLookMs);
    if (n > 0) {
      // The timer fired and no loop woke the watchdog: an iteration has lasted a threshold.
      if ((fds[1].revents & POLLIN) != 0 && (fds[0].revents & POLLIN) == 0) end = ParkEnd::kTimer;
      break;
    }
    if (n < 0 && errno != EINTR) break;
    // The bound passed with no wake-up. A cheap look, without leaving the park: a loop that is
    // no longer waiting in its poll is busy; the full look then measures its stretch from
    // libuv's idle time.
    if (n == 0 && AnyLoopAwake()) {
      end = ParkEnd::kGlance;
      break;
    }
  }
  __atomic_store_n(&g_watchdog_parked, 0u, __ATOMIC_SEQ_CST);
  DrainFd(fds[0].fd);
  DrainFd(fds[1].fd);
  return end;
}

// Under w->mu, with w->loop set: the loop's handles are open.
void Watchdog::Nudge(WatchedLoop* w) {
  if (w->nudge != nullptr) {
    uv_async_send(w->nudge);
    nudges_.fetch_add(1, std::memory_order_relaxed);
  }
}

bool Watchdog::AnyLoopAwake() {
  std::vector<std::shared_ptr<WatchedLoop>> loops;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return true;
    loops = loops_;
  }
  for (const auto& w : loops) {
    std::lock_guard<std::mutex> entry(w->mu);
    if (w->loop == nullptr || w->attr == nullptr) continue;
    if (w->recording == nullptr || !w->recording->load(std::memory_order_relaxed)) continue;
    if (!WaitingInPoll(w->loop)) return true;
  }
  return false;
}

uint64_t Watchdog::Scan(uint64_t now, bool* quiet) {
  std::vector<std::shared_ptr<WatchedLoop>> loops;
  {
    std::lock_guard<std::mutex> lock(mu_);
    loops = loops_;
  }
  uint64_t sleep_ns = idle_tick_ns_;
  *quiet = true;
  for (const auto& w : loops) {
    std::lock_guard<std::mutex> entry(w->mu);
    if (w->loop == nullptr || w->attr == nullptr) continue;
    if (w->recording == nullptr || !w->recording->load(std::memory_order_relaxed)) continue;
    // Without its entry callback (it was busy), the loop cannot wake a parked watchdog.
    bool unwatched = w->entries_unwatched.load(std::memory_order_relaxed) != 0;
    if (unwatched) *quiet = false;
    if (w->phase_state.load(std::memory_order_relaxed) != g_record_state.load(std::memory_order_relaxed) ||
        w->phase.load(std::memory_order_acquire) == 0) {
      // No hook since enable() or since attaching: quiet only if the loop waits in its poll.
      // Without its callback, it is woken to run its hooks (the check hook after enable() only
      // takes its baselines: the look after the next prepare wakes it again if need be).
      bool waiting = WaitingInPoll(w->loop);
      if (!waiting) *quiet = false;
      if (waiting && unwatched) Nudge(w.get());
      continue;
    }
    uint64_t phase = w->phase.load(std::memory_order_acquire);
    uint64_t idle_base = w->idle_at_prepare_ns.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    // A loop is quiet when it sleeps in its poll and iterated at most twice since the previous
    // look: a loop that iterates more often keeps the watchdog ticking, so that a loaded process
    // does not wake it on every request as it enters JavaScript.
    uint64_t iterations = w->iterations.load(std::memory_order_relaxed);
    bool loop_quiet = (phase & 1) != 0 && iterations - w->seen_iterations <= kQuietIterations;
    if (!loop_quiet) *quiet = false;
    w->seen_iterations = iterations;
    // The loop moved to another phase while we read: look again at the next tick.
    if (w->phase.load(std::memory_order_relaxed) != phase) {
      *quiet = false;
      continue;
    }
    uint64_t busy_start = phase >> 1;
    if (phase & 1) {
      // Inside the poll phase: the loop waited for I/O for `blocked` of it, and has been running
      // I/O callbacks since, unless it is still waiting (then busy_start is now or later).
      uint64_t idle = uv_metrics_idle_time(w->loop);
      uint64_t blocked = idle > idle_base ? idle - idle_base : 0;
      busy_start += blocked;
      bool waiting = WaitingInPoll(w->loop);
      if (*quiet && !waiting) *quiet = false;
      // Quiet but without its callback: the load that made it take the callback out has ended.
      // Woken once its poll has blocked as long as the check hook asks before it puts the
      // callback back (a shorter poll would wake it for nothing); a later look then parks.
      if (loop_quiet && unwatched && waiting && blocked >= w->quiet_poll_ns) Nudge(w.get());
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
