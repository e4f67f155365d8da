// The attribution part of looptrace (looptrace_v8.node): what only V8 can tell, on each loop's
// own thread. It reads the JavaScript stack of a busy loop when the core's watchdog asks, through
// Isolate::RequestInterrupt, the only safe way to read another thread's JavaScript stack (a stack
// read from a foreign thread, as Isolate::GetStackSample would do, is undefined behaviour). It
// also times GC pauses with V8's GC prologue and epilogue callbacks, the same callbacks that
// Node's PerformanceObserver('gc') uses. With stacks on, it tells the core's parked watchdog when
// a thread enters JavaScript (V8's BeforeCallEnteredCallback): the one moment that no loop hook
// marks, an I/O callback starting right after an idle stretch.
//
// This file uses the V8 API, so its binary is tied to one Node.js ABI (NODE_MODULE_VERSION). The
// core never links against it: it receives the table below through JavaScript, and a missing or
// mismatched build only means no stacks and no GC pauses.

#include <node.h>
#include <uv.h>
#include <v8.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "../attribution_api.h"
#include "../pin_library.h"

namespace looptrace_v8 {

namespace {

struct ThreadAttr {
  uint64_t id = 0;
  v8::Isolate* isolate = nullptr;
  const LtCoreApi* core = nullptr;
  void* ctx = nullptr;
  uint32_t flags = 0;
  uint32_t max_frames = 32;
  // This handle installed (and counted) the entry callback, and has not taken it out since.
  bool entry_hooked = false;
  // Loop thread only.
  uint64_t gc_start_ns = 0;
  int gc_depth = 0;
  std::vector<std::string> names;
  std::vector<LtFrame> frames;
  // Shared with the watchdog thread.
  std::atomic<bool> pending{false};
  std::atomic<uint64_t> request_ns{0};
};

// Interrupt callbacks carry an id, not a pointer: a request still queued in V8 when its thread
// detaches then finds nothing, instead of freed memory.
std::mutex* g_registry_mu = new std::mutex();
std::unordered_map<uint64_t, ThreadAttr*>* g_registry = new std::unordered_map<uint64_t, ThreadAttr*>();
uint64_t g_next_id = 1;

// Isolates with the entry callback installed, and how many attached handles asked for it: V8
// keeps one copy of a callback per isolate, so it is removed only when the last one detaches.
// Guarded by g_registry_mu.
std::unordered_map<v8::Isolate*, uint32_t>* g_entry_hooks = new std::unordered_map<v8::Isolate*, uint32_t>();
// The core's table (static in the core, which stays loaded): set before any entry callback is
// installed, never cleared.
std::atomic<const LtCoreApi*> g_core{nullptr};

// Runs each time the thread enters JavaScript from native code: every I/O, timer and immediate
// callback. Two loads and a branch unless the watchdog is parked, which happens only when every
// loop sleeps; but those loads miss the cache after a stretch of application code, so a busy
// loop takes the callback out (watch_entries) and runs without it.
void OnCallEntered(v8::Isolate*) {
  const LtCoreApi* core = g_core.load(std::memory_order_relaxed);
  if (core == nullptr) return;
  // Only the compiler must keep this read after the loop's earlier writes (leaving its poll):
  // the watchdog parks behind a process-wide barrier.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (__atomic_load_n(core->watchdog_parked, __ATOMIC_RELAXED) != 0) core->wake_watchdog();
}

ThreadAttr* Lookup(uint64_t id) {
  std::lock_guard<std::mutex> lock(*g_registry_mu);
  auto it = g_registry->find(id);
  return it == g_registry->end() ? nullptr : it->second;
}

void OnGcPrologue(v8::Isolate*, v8::GCType, v8::GCCallbackFlags, void* data) {
  auto* a = static_cast<ThreadAttr*>(data);
  // Prologue and epilogue pairs do not nest in V8 today; count depth anyway so that a nested
  // pair could never produce a pause longer than the outer one.
  if (a->gc_depth++ == 0) a->gc_start_ns = uv_hrtime();
}

void OnGcEpilogue(v8::Isolate*, v8::GCType type, v8::GCCallbackFlags, void* data) {
  auto* a = static_cast<ThreadAttr*>(data);
  if (a->gc_depth == 0) return;  // attached between a prologue and its epilogue
  if (--a->gc_depth != 0) return;
  uint64_t now = uv_hrtime();
  a->core->gc_pause(a->ctx, now, now - a->gc_start_ns, static_cast<uint32_t>(type));
}

void Utf8(v8::Isolate* isolate, v8::Local<v8::String> s, std::string* out) {
  out->clear();
  if (s.IsEmpty() || s->Length() == 0) return;
  v8::String::Utf8Value value(isolate, s);
  if (*value != nullptr) out->assign(*value, static_cast<size_t>(value.length()));
}

// Runs on the loop thread, at V8's next interrupt check after the watchdog's request: inside
// JavaScript that is running, or as soon as the thread returns to JavaScript from native code.
void OnInterrupt(v8::Isolate* isolate, void* data) {
  ThreadAttr* a = Lookup(reinterpret_cast<uintptr_t>(data));
  if (a == nullptr || a->isolate != isolate) return;
  uint64_t now = uv_hrtime();
  uint64_t requested = a->request_ns.load(std::memory_order_acquire);
  if (isolate->IsExecutionTerminating()) {
    a->pending.store(false, std::memory_order_release);
    return;
  }
  v8::HandleScope scope(isolate);
  v8::Local<v8::StackTrace> trace =
      v8::StackTrace::CurrentStackTrace(isolate, static_cast<int>(a->max_frames), v8::StackTrace::kDetailed);
  int count = trace.IsEmpty() ? 0 : trace->GetFrameCount();
  if (count < 0) count = 0;
  if (a->names.size() < static_cast<size_t>(count) * 2) a->names.resize(static_cast<size_t>(count) * 2);
  a->frames.resize(static_cast<size_t>(count));
  for (int i = 0; i < count; i++) {
    v8::Local<v8::StackFrame> frame = trace->GetFrame(isolate, static_cast<uint32_t>(i));
    std::string& fn = a->names[static_cast<size_t>(i) * 2];
    std::string& script = a->names[static_cast<size_t>(i) * 2 + 1];
    Utf8(isolate, frame->GetFunctionName(), &fn);
    Utf8(isolate, frame->GetScriptNameOrSourceURL(), &script);
    int line = frame->GetLineNumber();
    int column = frame->GetColumn();
    LtFrame& out = a->frames[static_cast<size_t>(i)];
    out.function_name = fn.data();
    out.function_name_length = fn.size();
    out.script = script.data();
    out.script_length = script.size();
    out.line = line > 0 ? static_cast<uint32_t>(line) : 0;
    out.column = column > 0 ? static_cast<uint32_t>(column) : 0;
  }
  a->core->stack_sample(a->ctx, now, requested != 0 && now > requested ? now - requested : 0, 0,
                        a->frames.data(), a->frames.size());
  a->pending.store(false, std::memory_order_release);
}

// V8 keeps one copy of a callback: adding it again is harmless, and a count left behind by an
// isolate that went without detaching cannot keep a new one at its address unhooked.
void HookEntriesLocked(ThreadAttr* a) {
  if (a->entry_hooked) return;
  (*g_entry_hooks)[a->isolate]++;
  a->isolate->AddBeforeCallEnteredCallback(OnCallEntered);
  a->entry_hooked = true;
}

void UnhookEntriesLocked(ThreadAttr* a) {
  if (!a->entry_hooked) return;
  a->entry_hooked = false;
  auto hook = g_entry_hooks->find(a->isolate);
  if (hook != g_entry_hooks->end() && --hook->second == 0) {
    a->isolate->RemoveBeforeCallEnteredCallback(OnCallEntered);
    g_entry_hooks->erase(hook);
  }
}

void* AttachThread(const LtCoreApi* core, void* ctx, uint32_t flags, uint32_t max_frames) {
  if (core == nullptr || core->version != LOOPTRACE_ATTRIBUTION_API_VERSION) return nullptr;
  v8::Isolate* isolate = v8::Isolate::TryGetCurrent();
  if (isolate == nullptr) return nullptr;
  auto* a = new ThreadAttr();
  a->isolate = isolate;
  a->core = core;
  a->ctx = ctx;
  a->flags = flags;
  a->max_frames = max_frames == 0 ? 1 : max_frames;
  {
    std::lock_guard<std::mutex> lock(*g_registry_mu);
    a->id = g_next_id++;
    (*g_registry)[a->id] = a;
    if ((flags & kLtAttachStacks) && core->watchdog_parked != nullptr && core->wake_watchdog != nullptr) {
      g_core.store(core, std::memory_order_relaxed);
      HookEntriesLocked(a);
    }
  }
  if (flags & kLtAttachGc) {
    isolate->AddGCPrologueCallback(OnGcPrologue, a);
    isolate->AddGCEpilogueCallback(OnGcEpilogue, a);
  }
  return a;
}

bool RequestStack(void* handle, uint64_t request_ns) {
  auto* a = static_cast<ThreadAttr*>(handle);
  if ((a->flags & kLtAttachStacks) == 0) return false;
  if (a->pending.exchange(true, std::memory_order_acq_rel)) return false;
  a->request_ns.store(request_ns, std::memory_order_release);
  a->isolate->RequestInterrupt(OnInterrupt, reinterpret_cast<void*>(static_cast<uintptr_t>(a->id)));
  return true;
}

void DetachThread(void* handle) {
  auto* a = static_cast<ThreadAttr*>(handle);
  {
    std::lock_guard<std::mutex> lock(*g_registry_mu);
    g_registry->erase(a->id);
    UnhookEntriesLocked(a);
  }
  if (a->flags & kLtAttachGc) {
    a->isolate->RemoveGCPrologueCallback(OnGcPrologue, a);
    a->isolate->RemoveGCEpilogueCallback(OnGcEpilogue, a);
  }
  delete a;
}

// Called by the core's check hook when its loop turns busy or quiet (a few times a second at
// most): both on the loop thread, the only one that may change its isolate's callbacks.
void WatchEntries(void* handle, int on) {
  auto* a = static_cast<ThreadAttr*>(handle);
  if ((a->flags & kLtAttachStacks) == 0 || g_core.load(std::memory_order_relaxed) == nullptr) return;
  std::lock_guard<std::mutex> lock(*g_registry_mu);
  if (on != 0) {
    HookEntriesLocked(a);
  } else {
    UnhookEntriesLocked(a);
  }
}

const LtAttributionApi kApi = {LOOPTRACE_ATTRIBUTION_API_VERSION, AttachThread, RequestStack,
                               DetachThread, WatchEntries};

}  // namespace

}  // namespace looptrace_v8

// Context-aware, so that workers may load it too.
NODE_MODULE_INIT(/* exports, module, context */) {
  // Context::GetIsolate() is gone from newer V8; the module initialises on its isolate's thread.
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  // The core keeps a pointer to kApi, and GC callbacks and interrupts of this library may be
  // pending on other threads: it stays loaded until the process ends.
  static std::once_flag pin_once;
  std::call_once(pin_once, [] { looptrace::PinLibraryOf(&looptrace_v8::kApi); });
  uint64_t address = reinterpret_cast<uintptr_t>(&looptrace_v8::kApi);
  exports
      ->Set(context, v8::String::NewFromUtf8Literal(isolate, "api"),
            v8::BigInt::NewFromUnsigned(isolate, address))
      .Check();
  exports
      ->Set(context, v8::String::NewFromUtf8Literal(isolate, "apiCheck"),
            v8::BigInt::NewFromUnsigned(isolate, address ^ LOOPTRACE_ATTRIBUTION_API_CHECK))
      .Check();
  exports
      ->Set(context, v8::String::NewFromUtf8Literal(isolate, "apiVersion"),
            v8::Integer::New(isolate, LOOPTRACE_ATTRIBUTION_API_VERSION))
      .Check();
}
