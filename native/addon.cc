// The N-API surface of looptrace. TypeScript (src/recorder/) validates arguments and gives the
// friendly errors; the checks here are the backstop. C++ exceptions are off: errors are thrown
// into JavaScript and the function returns.

#include <napi.h>
#include <uv.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "attribution_api.h"
#include "crc32c.h"
#include "encoder.h"
#include "loop_hooks.h"
#include "pin_library.h"
#include "recorder.h"
#include "sinks.h"
#ifdef LOOPTRACE_TEST_SUPPORT
#include "test_support.h"
#endif

namespace looptrace {
namespace {

// Must match "version" in package.json; bump both together.
constexpr const char* kAddonVersion = "0.1.0";
constexpr size_t kOutboxMaxBytes = 64 << 20;

// The trace being recorded, shared by every environment (main thread and workers) in the process.
struct ActiveTrace {
  std::shared_ptr<Recorder> recorder;
  std::shared_ptr<Outbox> outbox;
  napi_threadsafe_function notify = nullptr;
};
std::mutex* g_trace_mu = new std::mutex();
// The attribution part's table (looptrace_v8.node), set once by setAttribution().
std::atomic<const LtAttributionApi*> g_attribution{nullptr};
ActiveTrace* g_trace = new ActiveTrace();

// A copy of the shared trace state, taken under its lock.
ActiveTrace CurrentTrace() {
  std::lock_guard<std::mutex> lock(*g_trace_mu);
  return *g_trace;
}

bool ReadOffset(const Napi::CallbackInfo& info, size_t index, const char* name, size_t length,
                size_t* out) {
  if (index >= info.Length() || info[index].IsUndefined()) return true;
  Napi::Env env = info.Env();
  if (!info[index].IsNumber()) {
    Napi::TypeError::New(env, std::string("crc32c: ") + name + " must be a number")
        .ThrowAsJavaScriptException();
    return false;
  }
  double value = info[index].As<Napi::Number>().DoubleValue();
  if (!(value >= 0) || value > static_cast<double>(length) || std::floor(value) != value) {
    Napi::RangeError::New(env, std::string("crc32c: ") + name +
                                   " must be an integer between 0 and the array length")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<size_t>(value);
  return true;
}

// crc32c(data: Uint8Array, startOffset = 0, endOffset = data.length) -> number.
Napi::Value Crc32cFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Napi::TypeError::New(env, "crc32c: data must be a Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array data = info[0].As<Napi::Uint8Array>();
  size_t length = data.ElementLength();
  size_t start = 0;
  size_t end = length;
  if (!ReadOffset(info, 1, "startOffset", length, &start) ||
      !ReadOffset(info, 2, "endOffset", length, &end)) {
    return env.Undefined();
  }
  if (start > end) {
    Napi::RangeError::New(env, "crc32c: startOffset must not exceed endOffset")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(Crc32c(0, data.Data() + start, end - start)));
}

// The backstop for numbers that TypeScript already checked: a value that is not a finite number
// in [min, max] (an integer where `integer`) throws a RangeError naming the option and returns
// false. Without it, a huge or NaN value would turn into an undefined conversion, a ring of 2^62
// slots (abort) or a loop that never ends.
bool CheckedField(const Napi::Object& o, const char* key, double fallback, double min, double max,
                  bool integer, double* out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) {
    *out = fallback;
    return true;
  }
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : std::nan("");
  if (!std::isfinite(d) || d < min || d > max || (integer && std::floor(d) != d)) {
    std::string shown = v.IsNumber() ? std::to_string(d) : "a non-number";
    Napi::RangeError::New(o.Env(), std::string("start: ") + key + " must be " +
                                       (integer ? "an integer" : "a number") + " from " +
                                       std::to_string(min) + " to " + std::to_string(max) +
                                       ", got " + shown)
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = d;
  return true;
}

std::string StringField(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}
bool BoolField(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : fallback;
}

bool ParseHex(const std::string& hex, uint8_t* out, size_t n) {
  if (hex.size() != n * 2) return false;
  for (size_t i = 0; i < n; i++) {
    char* end = nullptr;
    std::string byte = hex.substr(i * 2, 2);
    unsigned long v = std::strtoul(byte.c_str(), &end, 16);
    if (end != byte.c_str() + 2) return false;
    out[i] = static_cast<uint8_t>(v);
  }
  return true;
}

uint64_t WallClockNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Runs on the thread that started the trace when the writer has frames for a JavaScript writer
// or has failed. The JavaScript side then takes the outbox or the error.
void CallNotify(napi_env env, napi_value js_callback, void*, void*) {
  if (env == nullptr || js_callback == nullptr) return;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, js_callback, 0, nullptr, nullptr);
}

Napi::Value ThreadIdentity(Napi::Env env, LoopHooks* hooks) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("threadId", Napi::Number::New(env, hooks->thread_id()));
  out.Set("generation", Napi::Number::New(env, static_cast<double>(hooks->recorder_generation())));
  return out;
}

void OnOwnerTeardown(void* arg) {
  auto* weak = static_cast<std::weak_ptr<Recorder>*>(arg);
  if (std::shared_ptr<Recorder> recorder = weak->lock()) {
    // This hook runs before the loop's own teardown hook (cleanup hooks run newest first), so
    // the owner's loop leaves the trace here, with the reason its teardown means (a terminated
    // worker: 1), before the writer's last pass; otherwise that pass would write "telemetry
    // stopped" for it.
    if (LoopHooks* hooks = LoopHooks::ForThisThread()) {
      if (hooks->recorder_generation() == recorder->generation()) hooks->DetachAtTeardown();
    }
    recorder->Stop();
    std::lock_guard<std::mutex> lock(*g_trace_mu);
    // The channel belongs to the environment being torn down; Node finalizes it.
    if (g_trace->recorder == recorder) g_trace->notify = nullptr;
  }
  delete weak;
}

// start(options, notify) -> { threadId, generation }. Opens the sink here so that an unwritable
// path throws to the caller, then attaches the calling thread's loop.
Napi::Value Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "start(options, notify) expects an object and a function")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  std::lock_guard<std::mutex> lock(*g_trace_mu);
  if (g_trace->recorder && Recorder::Current() == g_trace->recorder) {
    Napi::Error error = Napi::Error::New(env, "a trace is already being recorded in this process");
    error.Set("code", Napi::String::New(env, "ALREADY_RUNNING"));
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }

  Config config;
  constexpr double kMaxSafe = 9007199254740991.0;
  double flush_ms, sample_ms, probe_ms, cpu_ms, ring_records, pid, pool, stack_threshold_ms,
      stack_interval_ms, stack_depth, max_file, max_total, node_thread_id;
  if (!CheckedField(o, "flushIntervalMs", 100, 1, 60'000, false, &flush_ms) ||
      !CheckedField(o, "queueSampleIntervalMs", 100, 0, 3'600'000, true, &sample_ms) ||
      !CheckedField(o, "threadpoolProbeIntervalMs", 50, 0, 3'600'000, true, &probe_ms) ||
      !CheckedField(o, "cpuThresholdMs", 2, 0.01, 60'000, false, &cpu_ms) ||
      !CheckedField(o, "threadBufferRecords", 8192, 64, 1 << 22, true, &ring_records) ||
      !CheckedField(o, "pid", 0, 0, kMaxSafe, true, &pid) ||
      !CheckedField(o, "threadpoolSize", 0, 0, 1024, true, &pool) ||
      !CheckedField(o, "stackThresholdMs", 0, 0, 3'600'000, false, &stack_threshold_ms) ||
      !CheckedField(o, "stackIntervalMs", 10, 1, 3'600'000, false, &stack_interval_ms) ||
      !CheckedField(o, "stackDepth", 32, 1, 256, true, &stack_depth) ||
      !CheckedField(o, "maxFileBytes", 0, 0, kMaxSafe, true, &max_file) ||
      !CheckedField(o, "maxTotalBytes", 0, 0, kMaxSafe, true, &max_total) ||
      !CheckedField(o, "nodeThreadId", 0, 0, 4294967295.0, true, &node_thread_id)) {
    return env.Undefined();
  }
  config.flush_interval_ns = static_cast<uint64_t>(flush_ms * 1e6);
  config.queue_sample_interval_ms = static_cast<uint64_t>(sample_ms);
  config.threadpool_probe_interval_ms = static_cast<uint64_t>(probe_ms);
  config.cpu_threshold_ns = static_cast<uint64_t>(cpu_ms * 1e6);
  size_t pow2 = 64;
  while (pow2 < static_cast<size_t>(ring_records)) pow2 <<= 1;
  config.ring_capacity = pow2;
  config.pid = static_cast<uint64_t>(pid);
  config.threadpool_size = static_cast<uint64_t>(pool);
  config.hostname = StringField(o, "hostname");
  config.node_version = StringField(o, "nodeVersion");
  config.service_name = StringField(o, "serviceName");
  config.producer = StringField(o, "producer");
  config.platform = StringField(o, "platform");
  config.attribution = g_attribution.load();
  config.attribution_note = StringField(o, "attributionNote");
  config.stack_threshold_ns = static_cast<uint64_t>(stack_threshold_ms * 1e6);
  config.stack_interval_ns = static_cast<uint64_t>(stack_interval_ms * 1e6);
  config.stack_max_frames = static_cast<uint32_t>(stack_depth);
  config.gc_pauses = BoolField(o, "gcPauses", true);
  if (BoolField(o, "schedstat", true)) {
    int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      config.schedstat = true;
      close(fd);
    }
  }
  if (!ParseHex(StringField(o, "traceId"), config.trace_id, 16)) {
    Napi::TypeError::New(env, "start: traceId must be 32 hex digits").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // The origin pairs a monotonic and a wall-clock reading taken back to back.
  config.origin_mono_ns = uv_hrtime();
  config.origin_wall_unix_ns = WallClockNs();

  std::string kind = StringField(o, "sink");
  std::unique_ptr<Sink> sink;
  auto outbox = std::make_shared<Outbox>(kOutboxMaxBytes);
  napi_threadsafe_function notify = nullptr;
  napi_value resource_name;
  napi_create_string_utf8(env, "looptrace.notify", NAPI_AUTO_LENGTH, &resource_name);
  if (napi_create_threadsafe_function(env, info[1], nullptr, resource_name, 0, 1, nullptr, nullptr,
                                      nullptr, CallNotify, &notify) != napi_ok) {
    Napi::Error::New(env, "start: cannot create the notification channel")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  napi_unref_threadsafe_function(env, notify);
  auto wake = [notify] { napi_call_threadsafe_function(notify, nullptr, napi_tsfn_nonblocking); };
  if (kind == "file") {
    uint64_t max_file_bytes = static_cast<uint64_t>(max_file);
    uint64_t max_total_bytes = static_cast<uint64_t>(max_total);
    if (max_file_bytes != 0) {
      config.target_frame_bytes = std::min<size_t>(wire::kTargetFrameBodyBytes, max_file_bytes / 4);
    }
    sink = std::make_unique<FileSink>(StringField(o, "path"), max_file_bytes, max_total_bytes,
                                      BoolField(o, "replace", false));
  } else if (kind == "null") {
    sink = std::make_unique<NullSink>();
  } else if (kind == "js") {
    sink = std::make_unique<JsSink>(outbox.get(), wake);
  } else {
    napi_release_threadsafe_function(notify, napi_tsfn_release);
    Napi::TypeError::New(env, "start: unknown sink " + kind).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  g_record_state.store((g_record_state.load() & ~1u) | (BoolField(o, "enabled", true) ? 1u : 0u));
  // The calling thread is registered before the sink opens, so that the first file's header
  // lists it.
  bool is_main = BoolField(o, "isMainThread", true);
  std::string error;
  auto recorder = Recorder::Create(config, std::move(sink), wake);
  // The calling thread registers before the sink opens, so the first file's header lists it.
  auto thread = recorder->AddThread(static_cast<uint32_t>(node_thread_id),
                                    is_main ? 0 : 1, StringField(o, "threadName"), is_main);
  if (!recorder->Open(&error)) {
    napi_release_threadsafe_function(notify, napi_tsfn_release);
    Napi::Error::New(env, error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (LoopHooks* old = LoopHooks::ForThisThread()) old->Detach();
  LoopHooks* hooks =
      LoopHooks::Attach(env, recorder, thread, BoolField(o, "probeThreadpool", true), &error);
  if (hooks == nullptr) {
    recorder->Stop();
    napi_release_threadsafe_function(notify, napi_tsfn_release);
    Napi::Error::New(env, error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  g_trace->recorder = recorder;
  g_trace->outbox = outbox;
  g_trace->notify = notify;
  // When the environment that started the trace goes away without stop() (a worker that owned
  // the trace is terminated), stop the writer before Node finalizes the notification channel it
  // calls. Registered after the channel, so it runs before the channel's own cleanup.
  napi_add_env_cleanup_hook(env, OnOwnerTeardown, new std::weak_ptr<Recorder>(recorder));
  return ThreadIdentity(env, hooks);
}

// attachThread({ threadName, nodeThreadId }) -> { threadId, generation } | null when no trace
// is being recorded. Called in workers: their loop joins the process's trace.
Napi::Value AttachThread(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "attachThread(options) expects an object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  auto recorder = Recorder::Current();
  if (!recorder) return env.Null();
  LoopHooks* existing = LoopHooks::ForThisThread();
  if (existing != nullptr) {
    if (existing->recorder_generation() == recorder->generation()) {
      return ThreadIdentity(env, existing);
    }
    existing->Detach();
  }
  double node_thread_id;
  if (!CheckedField(o, "nodeThreadId", 0, 0, 4294967295.0, true, &node_thread_id)) return env.Undefined();
  std::string error;
  auto thread = recorder->AddThread(static_cast<uint32_t>(node_thread_id), 1,
                                    StringField(o, "threadName"), false);
  LoopHooks* hooks =
      LoopHooks::Attach(env, recorder, thread, BoolField(o, "probeThreadpool", false), &error);
  if (hooks == nullptr) {
    Napi::Error::New(env, error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return ThreadIdentity(env, hooks);
}

Napi::Value DetachThread(const Napi::CallbackInfo& info) {
  // A worker's stop(): its loop leaves the trace because telemetry stopped there (reason 2).
  if (LoopHooks* hooks = LoopHooks::ForThisThread()) hooks->Detach(2);
  return info.Env().Undefined();
}

Napi::Value MarkThreadExiting(const Napi::CallbackInfo& info) {
  if (LoopHooks* hooks = LoopHooks::ForThisThread()) hooks->MarkExiting();
  return info.Env().Undefined();
}

Napi::Value SetEnabled(const Napi::CallbackInfo& info) {
  bool on = info.Length() > 0 && info[0].ToBoolean().Value();
  uint32_t state = g_record_state.load();
  uint32_t next;
  do {
    if (on == ((state & 1) != 0)) return info.Env().Undefined();
    // Enabling bumps the count in the upper bits, so each loop records a RESUMED marker.
    next = on ? (((state >> 1) + 1) << 1) | 1 : state & ~1u;
  } while (!g_record_state.compare_exchange_weak(state, next));
  if (std::shared_ptr<Recorder> recorder = CurrentTrace().recorder) {
    // Enabled: the writer and the watchdog, asleep while disabled, start again. Disabled: the
    // writer makes its last pass (drain and flush) now, then sleeps.
    recorder->Wake();
    if (on) {
      if (Watchdog* watchdog = recorder->watchdog()) watchdog->Wake();
    }
  }
  return info.Env().Undefined();
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Recorder> recorder = CurrentTrace().recorder;
  if (!recorder) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  looptrace::Stats s = recorder->GetStats();
  out.Set("records", static_cast<double>(s.records));
  out.Set("bytes", static_cast<double>(s.bytes));
  out.Set("frames", static_cast<double>(s.frames));
  out.Set("droppedRecords", static_cast<double>(s.dropped_records));
  out.Set("droppedBytes", static_cast<double>(s.dropped_bytes));
  out.Set("files", static_cast<double>(s.files));
  out.Set("threads", static_cast<double>(s.threads));
  out.Set("mainThreadRecords", static_cast<double>(s.main_records));
  out.Set("running", Recorder::Current() == recorder);
  const Config& config = recorder->config();
  out.Set("capabilities", static_cast<double>(config.Capabilities()));
  out.Set("stackRequests", static_cast<double>(recorder->watchdog() ? recorder->watchdog()->requests() : 0));
  out.Set("watchdogNudges", static_cast<double>(recorder->watchdog() ? recorder->watchdog()->nudges() : 0));
  out.Set("stackSamples", static_cast<double>(s.stack_samples));
  out.Set("stackSampleNs", static_cast<double>(s.stack_sample_ns));
  out.Set("definitionMisses", static_cast<double>(recorder->definitions().misses()));
  out.Set("enabled", (g_record_state.load() & 1) != 0);
  Napi::Object self = Napi::Object::New(env);
  self.Set("writerNs", static_cast<double>(s.self.writer_ns));
  self.Set("watchdogNs", static_cast<double>(s.self.watchdog_ns));
  self.Set("hooksNs", static_cast<double>(s.self.hooks_ns));
  self.Set("timersNs", static_cast<double>(s.self.timers_ns));
  self.Set("stacksNs", static_cast<double>(s.self.stacks_ns));
  self.Set("processNs", static_cast<double>(s.self.process_ns));
  out.Set("selfCpu", self);
  std::string error = recorder->Error();
  if (!error.empty()) out.Set("error", error);
  return out;
}

Napi::Value TakeOutbox(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Outbox> outbox = CurrentTrace().outbox;
  Napi::Array out = Napi::Array::New(env);
  if (!outbox) return out;
  auto chunks = outbox->TakeAll();
  for (size_t i = 0; i < chunks.size(); i++) {
    out.Set(static_cast<uint32_t>(i), Napi::Buffer<uint8_t>::Copy(env, chunks[i].data(), chunks[i].size()));
  }
  return out;
}

// stop(): detaches this thread's hooks, drains every ring into the sink and closes it. Blocks
// for the final write, which the writer thread does.
Napi::Value Stop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Recorder> recorder;
  napi_threadsafe_function notify = nullptr;
  {
    std::lock_guard<std::mutex> lock(*g_trace_mu);
    recorder = g_trace->recorder;
    notify = g_trace->notify;
    g_trace->notify = nullptr;
  }
  if (!recorder) return env.Undefined();
  // Stop first, then detach: the threads' last records say that telemetry stopped (THREAD_STOP
  // reason 2), not that this thread exited, which a detach before the final drain would say.
  recorder->Stop();
  if (LoopHooks* hooks = LoopHooks::ForThisThread()) {
    if (hooks->recorder_generation() == recorder->generation()) hooks->Detach();
  }
  if (notify != nullptr) napi_release_threadsafe_function(notify, napi_tsfn_release);
  return env.Undefined();
}

// For the exit paths: the same as stop(), without touching the loop, which may no longer run.
Napi::Value FlushAtExit(const Napi::CallbackInfo& info) {
  if (std::shared_ptr<Recorder> recorder = CurrentTrace().recorder) {
    // The owner's thread is exiting ('exit', or a fatal signal about to be re-raised): its loop
    // leaves the trace as "exited" before the writer's last pass, which would otherwise write
    // "telemetry stopped" for it.
    if (LoopHooks* hooks = LoopHooks::ForThisThread()) {
      if (hooks->recorder_generation() == recorder->generation()) hooks->Detach(0);
    }
    recorder->Stop();
  }
  return info.Env().Undefined();
}

// setAttribution(api: bigint, apiCheck: bigint) -> boolean. Takes the attribution part's table;
// the next start() samples stacks and GC pauses with it. False when the table is of another
// version.
Napi::Value SetAttribution(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t address = 0, check = 0;
  bool lossless = false;
  if (info.Length() < 2 || !info[0].IsBigInt() || !info[1].IsBigInt() ||
      (address = info[0].As<Napi::BigInt>().Uint64Value(&lossless), !lossless) ||
      (check = info[1].As<Napi::BigInt>().Uint64Value(&lossless), !lossless) || address == 0 ||
      (address ^ LOOPTRACE_ATTRIBUTION_API_CHECK) != check) {
    Napi::TypeError::New(env, "setAttribution(api, apiCheck) expects the attribution part's api and apiCheck")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* api = reinterpret_cast<const LtAttributionApi*>(static_cast<uintptr_t>(address));
  if (api->version != LOOPTRACE_ATTRIBUTION_API_VERSION || api->attach_thread == nullptr ||
      api->request_stack == nullptr || api->detach_thread == nullptr || api->watch_entries == nullptr) {
    return Napi::Boolean::New(env, false);
  }
  g_attribution.store(api);
  return Napi::Boolean::New(env, true);
}

// Records that JavaScript may write (records from JavaScript: operations, marks, user queues,
// callbacks, user stack samples). Everything else is the recorder's own.
bool JsRecordAllowed(double code) {
  switch (static_cast<int>(code)) {
    case wire::kCallbackStart:
    case wire::kCallbackEnd:
    case wire::kOperationStart:
    case wire::kOperationEnd:
    case wire::kMark:
    case wire::kUserQueueSample:
      return static_cast<double>(static_cast<int>(code)) == code;
    default:
      return false;
  }
}

bool RecordField(const Napi::CallbackInfo& info, size_t index, uint64_t max, uint64_t* out) {
  if (index >= info.Length() || info[index].IsUndefined()) {
    *out = 0;
    return true;
  }
  if (!info[index].IsNumber()) return false;
  double v = info[index].As<Napi::Number>().DoubleValue();
  if (!(v >= 0) || v > static_cast<double>(max) || std::floor(v) != v) return false;
  *out = static_cast<uint64_t>(v);
  return true;
}

// pushRecord(code, f0?, f1?, f2?) -> boolean. Appends a record, stamped now, to the calling
// thread's ring (for CALLBACK_START, f2 is the operation id: FORMAT.md's fourth field). False when this thread's loop is not being recorded (not attached, paused or
// stopped); throws on a code or field that the format does not allow. Signed fields (MARK's
// value) must come zigzag-encoded.
Napi::Value PushRecord(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t f0 = 0, f1 = 0, f2 = 0;
  if (info.Length() < 1 || !info[0].IsNumber() || !JsRecordAllowed(info[0].As<Napi::Number>().DoubleValue())) {
    Napi::RangeError::New(env, "pushRecord: code must be a record type JavaScript may write")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  constexpr uint64_t kMaxField = (1ull << 53) - 1;
  if (!RecordField(info, 1, kMaxField, &f0) || !RecordField(info, 2, kMaxField, &f1) ||
      !RecordField(info, 3, 0xffffffffull, &f2)) {
    Napi::RangeError::New(env, "pushRecord: fields must be integers from 0 to 2^53 - 1 (the third to 2^32 - 1)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  LoopHooks* hooks = LoopHooks::ForThisThread();
  if (hooks == nullptr) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(
      env, hooks->PushFromJs(static_cast<uint8_t>(info[0].As<Napi::Number>().Int32Value()), f0, f1,
                             static_cast<uint32_t>(f2)));
}

// internString(value) -> id. The string's id in the running trace (0 when none is running or the
// table is full); its definition is written before any record pushed after this call.
Napi::Value InternString(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "internString(value) expects a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::shared_ptr<Recorder> recorder = Recorder::Current();
  if (!recorder) return Napi::Number::New(env, 0);
  return Napi::Number::New(
      env, static_cast<double>(recorder->definitions().InternString(info[0].As<Napi::String>().Utf8Value())));
}

// defineTraceContext(operationId, context: Uint8Array(33)) -> boolean. The W3C trace context of
// an operation: trace id (16 bytes), span id (8), parent span id (8, zeros for none), flags (1).
Napi::Value DefineTraceContext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t operation_id = 0;
  if (info.Length() < 2 || !RecordField(info, 0, (1ull << 53) - 1, &operation_id) || operation_id == 0 ||
      !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[1].As<Napi::Uint8Array>().ElementLength() != Definitions::kTraceContextBytes) {
    Napi::TypeError::New(env, "defineTraceContext(operationId, context) expects a positive integer id and a Uint8Array of 33 bytes")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::shared_ptr<Recorder> recorder = Recorder::Current();
  if (!recorder) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(
      env, recorder->definitions().DefineTraceContext(operation_id, info[1].As<Napi::Uint8Array>().Data()));
}

// setAggregation(on, longTaskMs, notify): the OpenTelemetry bridge turns the writer's per-thread
// aggregates on (from zero) or off. Long tasks are queued for takeLongTasks() when longTaskMs > 0,
// and the trace's notify callback runs when one was queued if `notify` is true. False when no
// trace is running.
Napi::Value SetAggregation(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsBoolean() || !info[1].IsNumber() || !info[2].IsBoolean()) {
    Napi::TypeError::New(env, "setAggregation(on, longTaskMs, notify) expects a boolean, a number and a boolean")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double long_task_ms = info[1].As<Napi::Number>().DoubleValue();
  if (!(long_task_ms >= 0) || long_task_ms > 3'600'000) {
    Napi::RangeError::New(env, "setAggregation: longTaskMs must be from 0 to 3600000").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::shared_ptr<Recorder> recorder = Recorder::Current();
  if (!recorder) return Napi::Boolean::New(env, false);
  recorder->SetAggregation(info[0].As<Napi::Boolean>().Value(), static_cast<uint64_t>(long_task_ms * 1e6),
                           info[2].As<Napi::Boolean>().Value());
  return Napi::Boolean::New(env, true);
}

// Non-empty buckets as a flat array: index, count, sum of values (ns), index, count, sum, ...
Napi::Array HistogramValue(Napi::Env env, const NsHistogram& h) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  if (h.count == 0) return out;
  for (int i = 0; i < NsHistogram::kBuckets; i++) {
    if (h.counts[i] == 0) continue;
    out.Set(k++, Napi::Number::New(env, i));
    out.Set(k++, Napi::Number::New(env, static_cast<double>(h.counts[i])));
    out.Set(k++, Napi::Number::New(env, h.sums[i]));
  }
  return out;
}

// threadAggregates() -> per live thread, the writer's cumulative aggregates (empty when
// aggregation is off or no trace is running).
Napi::Value ThreadAggregatesFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  std::shared_ptr<Recorder> recorder = Recorder::Current();
  if (!recorder || !recorder->aggregating()) return out;
  uint32_t k = 0;
  recorder->ForEachAggregate([&](ThreadState& t, const ThreadAggregates& a) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("threadId", Napi::Number::New(env, t.thread_id));
    o.Set("nodeThreadId", Napi::Number::New(env, t.node_thread_id));
    o.Set("kind", Napi::Number::New(env, t.kind));
    o.Set("name", Napi::String::New(env, t.name));
    o.Set("activeNs", Napi::Number::New(env, static_cast<double>(a.active_ns)));
    o.Set("idleNs", Napi::Number::New(env, static_cast<double>(a.idle_ns)));
    o.Set("iterations", Napi::Number::New(env, static_cast<double>(a.iterations)));
    o.Set("longTasks", Napi::Number::New(env, static_cast<double>(a.long_tasks)));
    o.Set("longTaskNs", Napi::Number::New(env, static_cast<double>(a.long_task_ns)));
    o.Set("events", Napi::Number::New(env, static_cast<double>(a.events)));
    o.Set("eventsWaiting", Napi::Number::New(env, static_cast<double>(a.last_events_waiting)));
    o.Set("droppedRecords", Napi::Number::New(env, static_cast<double>(t.ring.DroppedTotal())));
    o.Set("stretches", HistogramValue(env, a.stretches));
    Napi::Array gc = Napi::Array::New(env, 4);
    for (uint32_t i = 0; i < 4; i++) gc.Set(i, HistogramValue(env, a.gc[i]));
    o.Set("gc", gc);
    o.Set("threadpoolDelay", HistogramValue(env, a.threadpool_delay));
    out.Set(k++, o);
  });
  return out;
}

// takeLongTasks() -> { tasks: [...], dropped }. Long tasks queued since the last call, with the
// blocking site seen in most of their stack samples.
Napi::Value TakeLongTasksFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  Napi::Array tasks = Napi::Array::New(env);
  out.Set("tasks", tasks);
  out.Set("dropped", Napi::Number::New(env, 0));
  std::shared_ptr<Recorder> recorder = Recorder::Current();
  if (!recorder) return out;
  uint64_t dropped = 0;
  std::deque<LongTask> taken = recorder->TakeLongTasks(&dropped);
  out.Set("dropped", Napi::Number::New(env, static_cast<double>(dropped)));
  uint32_t k = 0;
  for (const LongTask& task : taken) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("threadId", Napi::Number::New(env, task.thread_id));
    o.Set("nodeThreadId", Napi::Number::New(env, task.node_thread_id));
    o.Set("threadName", Napi::String::New(env, task.thread_name));
    o.Set("startUnixNs", Napi::Number::New(env, static_cast<double>(task.start_unix_ns)));
    o.Set("endUnixNs", Napi::Number::New(env, static_cast<double>(task.end_unix_ns)));
    o.Set("ioNs", Napi::Number::New(env, static_cast<double>(task.io_ns)));
    o.Set("cpuNs", Napi::Number::New(env, static_cast<double>(task.cpu_ns)));
    o.Set("cpuWallNs", Napi::Number::New(env, static_cast<double>(task.cpu_wall_ns)));
    o.Set("runnableNs", Napi::Number::New(env, static_cast<double>(task.runnable_ns)));
    o.Set("gcNs", Napi::Number::New(env, static_cast<double>(task.gc_ns)));
    o.Set("stackSamples", Napi::Number::New(env, static_cast<double>(task.stack_samples)));
    o.Set("operationId", Napi::Number::New(env, static_cast<double>(task.operation_id)));
    if (task.has_context) {
      Napi::Buffer<uint8_t> context = Napi::Buffer<uint8_t>::Copy(env, task.context, sizeof task.context);
      o.Set("context", context);
    }
    if (task.has_frame) {
      const Definitions& defs = recorder->definitions();
      o.Set("functionName", Napi::String::New(env, defs.StringOf(task.frame.function_name_string_id)));
      o.Set("scriptName", Napi::String::New(env, defs.StringOf(task.frame.script_string_id)));
      o.Set("line", Napi::Number::New(env, static_cast<double>(task.frame.line)));
      o.Set("column", Napi::Number::New(env, static_cast<double>(task.frame.column)));
    }
    tasks.Set(k++, o);
  }
  return out;
}

// flushRecords(batch: Float64Array, originNs: bigint) -> boolean. Hands this thread's hooks the
// batch JavaScript stages operation and callback records in (native/js_batch.h; once, or again
// after a restart) and moves what it holds into the thread's ring. The hooks also move it before
// each record of their own, so JavaScript calls this only when the batch is full. False when
// this thread's loop is not being recorded (the staged records are then forgotten).
Napi::Value FlushRecords(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t origin_ns = 0;
  bool lossless = false;
  if (info.Length() < 2 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[0].As<Napi::TypedArray>().ByteOffset() != 0 || !info[1].IsBigInt() ||
      (origin_ns = info[1].As<Napi::BigInt>().Uint64Value(&lossless), !lossless)) {
    Napi::TypeError::New(env, "flushRecords(batch, originNs) expects a Float64Array over a whole ArrayBuffer and a bigint")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  LoopHooks* hooks = LoopHooks::ForThisThread();
  if (hooks == nullptr) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, hooks->FlushJs(info[0].As<Napi::TypedArray>().ArrayBuffer(), origin_ns));
}

void StopAtExit() {
  // Backstop for exits that skip JavaScript's 'exit' event; the writer must not be cut off
  // mid-frame when it can finish.
  std::shared_ptr<Recorder> recorder = Recorder::Current();
  if (recorder) recorder->Stop();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  static std::once_flag atexit_once;
  std::call_once(atexit_once, [] {
    PinLibraryOf(reinterpret_cast<void*>(&StopAtExit));
    std::atexit(StopAtExit);
  });
  uint32_t napi_version = 0;
  if (napi_get_version(env, &napi_version) != napi_ok) {
    Napi::Error::New(env, "looptrace: napi_get_version failed").ThrowAsJavaScriptException();
    return exports;
  }
  exports.Set("addonVersion", Napi::String::New(env, kAddonVersion));
  exports.Set("napiVersion", Napi::Number::New(env, static_cast<double>(napi_version)));
  exports.Set("crc32c", Napi::Function::New(env, Crc32cFn, "crc32c"));
  exports.Set("start", Napi::Function::New(env, Start, "start"));
  exports.Set("attachThread", Napi::Function::New(env, AttachThread, "attachThread"));
  exports.Set("detachThread", Napi::Function::New(env, DetachThread, "detachThread"));
  exports.Set("markThreadExiting", Napi::Function::New(env, MarkThreadExiting, "markThreadExiting"));
  exports.Set("setEnabled", Napi::Function::New(env, SetEnabled, "setEnabled"));
  exports.Set("stats", Napi::Function::New(env, Stats, "stats"));
  exports.Set("takeOutbox", Napi::Function::New(env, TakeOutbox, "takeOutbox"));
  exports.Set("stop", Napi::Function::New(env, Stop, "stop"));
  exports.Set("flushAtExit", Napi::Function::New(env, FlushAtExit, "flushAtExit"));
  exports.Set("setAttribution", Napi::Function::New(env, SetAttribution, "setAttribution"));
  exports.Set("pushRecord", Napi::Function::New(env, PushRecord, "pushRecord"));
  exports.Set("internString", Napi::Function::New(env, InternString, "internString"));
  exports.Set("defineTraceContext", Napi::Function::New(env, DefineTraceContext, "defineTraceContext"));
  exports.Set("setAggregation", Napi::Function::New(env, SetAggregation, "setAggregation"));
  exports.Set("threadAggregates", Napi::Function::New(env, ThreadAggregatesFn, "threadAggregates"));
  exports.Set("takeLongTasks", Napi::Function::New(env, TakeLongTasksFn, "takeLongTasks"));
  exports.Set("flushRecords", Napi::Function::New(env, FlushRecords, "flushRecords"));
#ifdef LOOPTRACE_TEST_SUPPORT
  // Only in the test build (native/test): the production binary carries no test entry points.
  exports.Set("encodeForTest", Napi::Function::New(env, EncodeForTest, "encodeForTest"));
  exports.Set("benchmarkWriter", Napi::Function::New(env, BenchmarkWriter, "benchmarkWriter"));
#endif
  return exports;
}

}  // namespace
}  // namespace looptrace

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return looptrace::Init(env, exports);
}

NODE_API_MODULE(looptrace, InitAddon)
