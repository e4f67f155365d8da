#ifndef LOOPTRACE_NATIVE_WATCHDOG_H_
#define LOOPTRACE_NATIVE_WATCHDOG_H_

// The stack watchdog: a thread of its own that notices a loop busy for longer than the stack
// threshold and asks V8 (through the attribution part) for that loop's JavaScript stack, then
// again every stack interval while the loop stays busy. A long task thus gets a small profile.
//
// It reads each loop's state from a few atomics that the loop's hooks store on every iteration
// (plain moves on x86: nothing measurable on the hot path) and, for a loop inside its poll phase,
// from libuv's idle-time counter. That counter is mutex-guarded and, read from another thread,
// includes the wait in progress, so it tells whether the loop is still waiting for I/O or has
// returned and is running I/O callbacks: an HTTP handler that blocks is caught too, although no
// hook runs between the poll's return and its callbacks.
//
// A separate thread rather than the writer: the writer may sit in a slow write() to a full disk,
// and sampling must not wait for it.
//
// Idle: when a look finds every loop asleep in its poll (its idle time still growing, and at most
// two iterations since the look before), the watchdog parks (Linux): it waits on an eventfd and a
// timerfd until
// - an iteration that entered JavaScript lasts a stack threshold. The attribution part's V8
//   BeforeCallEnteredCallback reads g_watchdog_parked and calls WakeParkedWatchdog, which arms
//   the timer to fire a threshold later, once per iteration; the loop's prepare hook disarms it
//   when the iteration ends. That covers the moment no loop hook marks (an HTTP handler that
//   blocks right after an idle stretch runs between the poll's return and the check hook), and a
//   process woken now and then by a timer or a request pays two syscalls on the loop thread per
//   iteration and no wake-up of the watchdog. The timer has one owner at a time, the thread that
//   armed it, which alone disarms it: a second loop that enters JavaScript meanwhile, a loop that
//   armed it less than 5 ms before (two syscalls per iteration would then cost more than
//   ticking), or a system without timerfd clears the flag and writes the eventfd instead;
// - a loop's check hook does the same, unless the poll ended for looptrace's own idle timer or
//   probe: V8 runs some JavaScript without reporting an entry (a promise resolved by a platform
//   task, such as Atomics.waitAsync's timeout, continues in a microtask checkpoint of the timer
//   phase);
// - a loop added, enable(), stop() (the eventfd);
// - a glance every 5 s (kParkedLookMs) finding a loop out of its poll: the bound for the one
//   path neither covers, a platform task run by an I/O event inside the poll phase (a waitAsync
//   notified by a thread looptrace does not record).
// A loop that wakes without running JavaScript (looptrace's own idle timer and threadpool probe)
// leaves the watchdog asleep: it could not have a stack to take.
// A busy loop takes its entry callback out (LoopHooks::UpdateEntryWatch: it serves only a parked
// watchdog, and costs cache misses on every entry into JavaScript) and sets entries_unwatched;
// the watchdog does not park while any loop has it set, and wakes a loop it finds asleep without
// the callback (uv_async_send), whose check hook puts it back.
// After a wake-up through the eventfd it looks a threshold later (a stretch that began at the
// wake-up cannot be long before), after the timer at once, and ticks again. The flag is set, then
// a process-wide barrier (process_barrier.h), then the loops are looked at: a loop thread that
// read the flag before the barrier had left its poll before it, which the look sees, so the loop
// thread's read needs no fence. (libuv's metrics mutex, taken before every callback from the
// poll, orders it as well.)

#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "attribution_api.h"

namespace looptrace {

struct ThreadState;
class Watchdog;

// One loop as the watchdog sees it. The loop thread owns it; the watchdog holds a reference.
struct WatchedLoop {
  // Stored by the hooks: (time of the latest prepare or check << 1) | 1 while inside the poll
  // phase. One word, so that the watchdog reads a phase and its start together.
  std::atomic<uint64_t> phase{0};
  // The loop's idle time at the latest prepare (libuv adds to it only inside the poll).
  std::atomic<uint64_t> idle_at_prepare_ns{0};
  // The recording state (g_record_state) the hooks last saw. After disable() and enable(), the
  // phase is stale until the loop's next hook; the watchdog ignores it until then.
  std::atomic<uint32_t> phase_state{0};
  // Loop iterations so far (stored by the prepare hook): a loop that iterated at most twice since
  // the previous look is idle enough for the watchdog to park.
  std::atomic<uint64_t> iterations{0};
  // The phase word when the watchdog last asked for a stack. A stack that arrives after the loop
  // has moved on (the request was served late, in a later stretch) describes other code and is
  // dropped.
  std::atomic<uint64_t> requested_phase{0};
  // Nonzero while the loop has taken its entry callback out (it is busy): the watchdog must not
  // park, since no entry into JavaScript would wake it. Stored before the loop reads
  // g_watchdog_parked, read by the watchdog after its barrier (the parking protocol above).
  std::atomic<uint32_t> entries_unwatched{0};
  // Guarded by mu: cleared by the loop thread when it detaches, so that the watchdog never uses
  // a loop or an isolate that is going away.
  std::mutex mu;
  uv_loop_t* loop = nullptr;
  void* attr = nullptr;
  // Wakes the loop, whose check hook then puts its entry callback back (entries_unwatched).
  uv_async_t* nudge = nullptr;
  // How long a poll must block for the check hook to put the callback back
  // (LoopHooks::UpdateEntryWatch): the watchdog wakes the loop only after that.
  uint64_t quiet_poll_ns = 0;
  const std::atomic<bool>* recording = nullptr;
  // Watchdog thread only: the busy stretch being sampled and when its next sample is due; the
  // iteration count at the previous look.
  uint64_t stretch_start_ns = 0;
  uint64_t next_sample_ns = 0;
  uint64_t seen_iterations = 0;
};

class Watchdog {
 public:
  Watchdog(const LtAttributionApi* api, uint64_t threshold_ns, uint64_t interval_ns);
  ~Watchdog();
  void Start();
  // Joins the thread. Idempotent.
  void Stop();
  void Add(const std::shared_ptr<WatchedLoop>& loop);
  // The loop thread detaches: after this returns, the watchdog no longer touches `loop`'s
  // libuv loop or attribution handle.
  void Remove(WatchedLoop* loop);
  // Recording was enabled: a watchdog sleeping while disabled looks again.
  void Wake();
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  // Loops woken so that they put their entry callback back (Nudge).
  uint64_t nudges() const { return nudges_.load(std::memory_order_relaxed); }
  // CPU time the watchdog thread has used (its own thread CPU clock).
  uint64_t cpu_ns() const { return cpu_ns_.load(std::memory_order_relaxed); }

 private:
  void Run();
  // Looks at every loop; returns how long to sleep, and sets *quiet when every loop sleeps in
  // its poll and iterated at most twice since the previous look.
  uint64_t Scan(uint64_t now_ns, bool* quiet);
  // Sets g_watchdog_parked; false (and not parked) when a loop is awake after all.
  bool TryPark();
  // How a park ended: a loop (or Signal()) woke the watchdog, the timer that a loop armed fired,
  // or a glance found a loop awake.
  enum class ParkEnd { kWoken, kTimer, kGlance };
  // Waits until a loop wakes it, the timer fires, or a glance finds a loop awake.
  ParkEnd WaitParked();
  // While parked: some recorded loop is not waiting in its poll (or stop() was asked).
  bool AnyLoopAwake();
  // Wakes a loop found asleep without its entry callback (WatchedLoop::entries_unwatched).
  void Nudge(WatchedLoop* w);
  void Signal();

  const LtAttributionApi* const api_;
  const uint64_t threshold_ns_;
  const uint64_t interval_ns_;
  const uint64_t idle_tick_ns_;

  std::mutex mu_;  // guards loops_, stop_
  std::condition_variable cv_;
  std::vector<std::shared_ptr<WatchedLoop>> loops_;
  bool stop_ = false;
  bool started_ = false;
  std::thread thread_;
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> nudges_{0};
  std::atomic<uint64_t> cpu_ns_{0};
};

// Process-wide: nonzero while a watchdog is parked (LtCoreApi::watchdog_parked). Written with
// __atomic builtins; a plain word so that it crosses to the attribution part as a C type.
extern uint32_t g_watchdog_parked;
// From a loop thread entering JavaScript (or its check hook) while g_watchdog_parked is set: arms
// the watchdog's timer to fire a threshold from now, once per iteration, leaving the watchdog
// parked; or, when another loop holds the timer, this loop armed it less than 5 ms ago, or there
// is no timer, clears the flag and wakes the watchdog (one eventfd write).
void WakeParkedWatchdog();
// From a loop thread that takes its entry callback out while g_watchdog_parked is set: clears the
// flag and wakes the watchdog now (the eventfd), so that it looks and does not park again.
void WakeParkedWatchdogNow();
// From a loop thread whose iteration ends (its prepare hook): disarms the timer if this thread
// armed it. One load when it did not.
void DisarmWatchdogTimer();

}  // namespace looptrace

#endif  // LOOPTRACE_NATIVE_WATCHDOG_H_
