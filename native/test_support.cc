#include "test_support.h"

#include <uv.h>

#include <chrono>
#include <string>
#include <thread>

#include "encoder.h"
#include "recorder.h"
#include "sinks.h"

namespace looptrace {

namespace {

uint64_t U64(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsString()) return std::stoull(v.As<Napi::String>().Utf8Value());
  if (v.IsNumber()) return static_cast<uint64_t>(v.As<Napi::Number>().DoubleValue());
  return 0;
}

std::string Str(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

void Hex(const std::string& hex, uint8_t* out, size_t n) {
  for (size_t i = 0; i < n && 2 * i + 1 < hex.size(); i++) {
    out[i] = static_cast<uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  }
}

void EncodeHeader(Encoder& enc, const Napi::Object& h) {
  HeaderInfo info;
  Hex(Str(h, "traceId"), info.trace_id, 16);
  info.file_index = U64(h, "fileIndex");
  info.origin_mono_ns = U64(h, "originMonoNs");
  info.origin_wall_unix_ns = U64(h, "originWallUnixNs");
  info.file_start_ns = U64(h, "fileStartNs");
  info.has_pid = h.Has("pid");
  info.pid = U64(h, "pid");
  info.hostname = Str(h, "hostname");
  info.node_version = Str(h, "nodeVersion");
  info.service_name = Str(h, "serviceName");
  info.producer = Str(h, "producer");
  info.platform = Str(h, "platform");
  info.has_threadpool_size = h.Has("threadpoolSize");
  info.threadpool_size = U64(h, "threadpoolSize");
  info.has_capabilities = h.Has("capabilities");
  info.capabilities = U64(h, "capabilities");
  info.attribution_note = Str(h, "attributionNote");
  info.has_stack_sampling = h.Has("stackSampling");
  if (info.has_stack_sampling) {
    Napi::Object sampling = h.Get("stackSampling").As<Napi::Object>();
    info.stack_threshold_ns = U64(sampling, "thresholdNs");
    info.stack_interval_ns = U64(sampling, "intervalNs");
  }
  Napi::Array threads = h.Get("threads").As<Napi::Array>();
  for (uint32_t i = 0; i < threads.Length(); i++) {
    Napi::Object t = threads.Get(i).As<Napi::Object>();
    info.threads.push_back({static_cast<uint32_t>(U64(t, "threadId")),
                            static_cast<uint32_t>(U64(t, "nodeThreadId")),
                            static_cast<uint32_t>(U64(t, "kind")), Str(t, "name")});
  }
  enc.WriteHeader(info);
}

void EncodeRecord(Encoder& enc, const Napi::Object& r) {
  uint8_t code = static_cast<uint8_t>(U64(r, "code"));
  uint64_t time = U64(r, "timeNs");
  if (code == wire::kStringDef) {
    enc.StringDef(time, U64(r, "stringId"), Str(r, "value"));
  } else if (code == wire::kStackDef) {
    std::vector<Encoder::StackFrame> frames;
    Napi::Array list = r.Get("frames").As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); i++) {
      Napi::Object f = list.Get(i).As<Napi::Object>();
      frames.push_back({U64(f, "functionNameStringId"), U64(f, "scriptStringId"), U64(f, "line"),
                        U64(f, "column")});
    }
    enc.StackDef(time, U64(r, "stackId"), frames);
  } else if (code == wire::kTraceContext) {
    uint8_t trace_id[16] = {}, span_id[8] = {}, parent[8] = {};
    Hex(Str(r, "traceId"), trace_id, 16);
    Hex(Str(r, "spanId"), span_id, 8);
    Hex(Str(r, "parentSpanId"), parent, 8);
    enc.TraceContext(time, U64(r, "operationId"), trace_id, span_id, parent,
                     static_cast<uint8_t>(U64(r, "traceFlags")));
  } else {
    Napi::Array fields = r.Get("fields").As<Napi::Array>();
    uint64_t f[3] = {0, 0, 0};
    for (uint32_t i = 0; i < fields.Length() && i < 3; i++) {
      f[i] = static_cast<uint64_t>(fields.Get(i).As<Napi::Number>().DoubleValue());
    }
    enc.Counted(code, time, static_cast<int>(fields.Length()), f[0], f[1], f[2]);
  }
}

}  // namespace

Napi::Value EncodeForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    Napi::TypeError::New(env, "encodeForTest(steps) expects an array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array steps = info[0].As<Napi::Array>();
  Encoder enc;
  for (uint32_t i = 0; i < steps.Length(); i++) {
    Napi::Object step = steps.Get(i).As<Napi::Object>();
    std::string op = Str(step, "op");
    if (op == "magic") {
      enc.WriteMagic();
    } else if (op == "header") {
      EncodeHeader(enc, step.Get("header").As<Napi::Object>());
    } else if (op == "frame") {
      enc.BeginFrame(U64(step, "threadId"), U64(step, "baseTimeNs"));
      Napi::Array records = step.Get("records").As<Napi::Array>();
      for (uint32_t j = 0; j < records.Length(); j++) {
        EncodeRecord(enc, records.Get(j).As<Napi::Object>());
      }
      enc.EndFrame();
    } else {
      Napi::TypeError::New(env, "encodeForTest: unknown op " + op).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  return Napi::Buffer<uint8_t>::Copy(env, enc.data(), enc.size());
}

Napi::Value BenchmarkWriter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "benchmarkWriter(path, records)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  uint64_t total = static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue());
  Config config;
  config.ring_capacity = 1 << 16;
  config.origin_mono_ns = uv_hrtime();
  auto recorder = Recorder::Create(config, std::make_unique<FileSink>(path, 0, 0), nullptr);
  auto thread = recorder->AddThread(0, 0, "bench", true);
  std::string error;
  if (!recorder->Open(&error)) {
    Napi::Error::New(env, error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint64_t start = uv_hrtime();
  // The producer mimics a loop thread: alternating poll start and poll end records with
  // realistic deltas, yielding when the ring is full instead of dropping.
  std::thread producer([&] {
    uint64_t t = uv_hrtime();
    for (uint64_t i = 0; i < total; i++) {
      while (thread->ring.Full()) std::this_thread::yield();
      t += 20'000 + (i * 7919) % 200'000;
      if (i % 2 == 0) {
        thread->ring.Push(wire::kPollStart, t);
      } else {
        thread->ring.Push(wire::kPollEnd, t, (i * 104729) % 3 == 0 ? 150'000 : 0, 1 + i % 12,
                          static_cast<uint32_t>(i % 3));
      }
    }
  });
  producer.join();
  recorder->Stop();
  double seconds = static_cast<double>(uv_hrtime() - start) / 1e9;
  looptrace::Stats s = recorder->GetStats();
  Napi::Object out = Napi::Object::New(env);
  out.Set("seconds", seconds);
  out.Set("records", static_cast<double>(s.records));
  out.Set("bytes", static_cast<double>(s.bytes));
  out.Set("dropped", static_cast<double>(s.dropped_records));
  return out;
}

}  // namespace looptrace
