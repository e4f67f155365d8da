#ifndef LOOPTRACE_NATIVE_ATTRIBUTION_API_H_
#define LOOPTRACE_NATIVE_ATTRIBUTION_API_H_

// The plain C interface between the two native parts of looptrace:
// - the core (looptrace.node): N-API only, one binary for every Node.js version; it owns the
//   loops' hooks, the rings, the writer thread and the stack watchdog;
// - the attribution part (looptrace_v8.node): V8 API, built per Node.js ABI; it reads JavaScript
//   stacks and hooks V8's GC callbacks.
// JavaScript hands the attribution part's table to the core (setAttribution). If the attribution
// part is missing or was built for another Node.js, the core records everything but stacks and
// GC pauses. Only plain C types cross, so the two binaries need not share a compiler or ABI.

#include <cstddef>
#include <cstdint>

extern "C" {

#define LOOPTRACE_ATTRIBUTION_API_VERSION 3
// The table's address crosses JavaScript as a BigInt, with a check value (address XOR this) so
// that the core never follows a number that did not come from the attribution part. (A V8
// External cannot carry it: N-API wraps its own externals differently.)
#define LOOPTRACE_ATTRIBUTION_API_CHECK 0x6c74726163653876ull

// One JavaScript frame, innermost first. Strings are UTF-8 and not terminated; they live until
// the call that carries them returns.
struct LtFrame {
  const char* function_name;
  size_t function_name_length;
  const char* script;
  size_t script_length;
  uint32_t line;
  uint32_t column;
};

// Implemented by the core. `ctx` is the core's per-thread context given to attach_thread. The
// first two functions must be called on that loop's own thread.
struct LtCoreApi {
  uint32_t version;
  // A GC pause of `duration_ns` ending at `end_ns` (uv_hrtime clock); `gc_type` is V8's GCType.
  void (*gc_pause)(void* ctx, uint64_t end_ns, uint64_t duration_ns, uint32_t gc_type);
  // A stack taken at `time_ns`, `lag_ns` after it was requested (reason 0: the loop was busy).
  void (*stack_sample)(void* ctx, uint64_t time_ns, uint64_t lag_ns, uint32_t reason,
                       const LtFrame* frames, size_t frame_count);
  // Nonzero while the core's stack watchdog is parked because every loop sleeps in its poll.
  // With stacks on, the attribution part reads it (__atomic_load_n, relaxed, after a compiler
  // fence) each time a thread enters JavaScript from native code, and then calls wake_watchdog:
  // a handler that blocks right after an idle stretch is then sampled like any other. An ordinary
  // load suffices because the watchdog parks behind a process-wide barrier (process_barrier.h).
  const uint32_t* watchdog_parked;
  // From any loop thread, on entering JavaScript while watchdog_parked is set: wakes the watchdog.
  void (*wake_watchdog)(void);
};

enum LtAttachFlags : uint32_t {
  kLtAttachGc = 1,
  kLtAttachStacks = 2,
};

// Implemented by the attribution part.
struct LtAttributionApi {
  uint32_t version;
  // On the loop thread: hooks the current isolate (GC callbacks with kLtAttachGc; with
  // kLtAttachStacks, a callback on every entry into JavaScript, see watchdog_parked). Returns a
  // handle, or nullptr when the thread has no isolate. `max_frames` bounds each stack.
  void* (*attach_thread)(const LtCoreApi* core, void* ctx, uint32_t flags, uint32_t max_frames);
  // From any thread, while the handle is attached: asks the loop thread to take its stack at
  // its next chance. At most one request is pending per thread; false when one already is.
  bool (*request_stack)(void* handle, uint64_t request_ns);
  // On the loop thread: unhooks the isolate and frees the handle. A request still pending then
  // does nothing when it runs.
  void (*detach_thread)(void* handle);
  // On the loop thread, for a handle attached with kLtAttachStacks: removes (on == 0) or puts back
  // (on != 0) its entry callback. The callback only matters while the watchdog is parked, which
  // begins only when every loop is quiet, and each call costs cache misses on a loaded thread:
  // the core takes it out under load (waking a parked watchdog first) and puts it back before its
  // watchdog may park again.
  void (*watch_entries)(void* handle, int on);
};

}  // extern "C"

#endif  // LOOPTRACE_NATIVE_ATTRIBUTION_API_H_
