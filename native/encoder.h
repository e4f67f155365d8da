#ifndef LOOPTRACE_NATIVE_ENCODER_H_
#define LOOPTRACE_NATIVE_ENCODER_H_

// The native encoder of docs/FORMAT.md. It produces the same bytes as src/format/encoder.ts,
// which the golden vectors in test/vectors check. It runs on the writer thread only, never on a
// loop thread, so it may grow its buffer.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "crc32c.h"

namespace looptrace {

namespace wire {
constexpr uint8_t kMagic[8] = {0x89, 0x4c, 0x54, 0x52, 0x41, 0x43, 0x45, 0x0a};
constexpr uint8_t kSync[4] = {0xf5, 0x4c, 0x54, 0x46};
constexpr uint32_t kFormatMajor = 1;
constexpr uint32_t kFormatMinor = 2;
constexpr size_t kFrameHeaderBytes = 12;
constexpr size_t kMaxFrameBodyBytes = 1 << 20;
constexpr size_t kTargetFrameBodyBytes = 64 << 10;
constexpr uint8_t kFrameHeader = 0x01;
constexpr uint8_t kFrameRecords = 0x02;
constexpr int kShapeShift = 5;
constexpr uint8_t kShapeBytes = 7;

enum HeaderKey : uint32_t {
  kTraceId = 1,
  kFileIndex = 2,
  kClockAnchor = 3,
  kFileStartNs = 4,
  kPid = 5,
  kHostname = 6,
  kNodeVersion = 7,
  kServiceName = 8,
  kProducer = 9,
  kThread = 10,
  kPlatform = 11,
  kThreadpoolSize = 12,
  kCapabilities = 13,
  kAttributionNote = 14,
  kStackSampling = 15,
};

enum RecordCode : uint8_t {
  kPollStart = 1,
  kPollEnd = 2,
  kThreadCpu = 3,
  kQueueSample = 4,
  kThreadpoolProbe = 5,
  kGcPause = 6,
  kStackSample = 7,
  kCallbackStart = 8,
  kCallbackEnd = 9,
  kOperationStart = 10,
  kOperationEnd = 11,
  kMark = 12,
  kUserQueueSample = 13,
  kDropped = 14,
  kThreadStart = 15,
  kThreadStop = 16,
  kClockSync = 17,
  kResumed = 18,
  kThreadSched = 19,
  kSelfCost = 20,
  kStringDef = 24,
  kStackDef = 25,
  kTraceContext = 26,
};
}  // namespace wire

struct ThreadEntry {
  uint32_t thread_id;
  uint32_t node_thread_id;
  uint32_t kind;
  std::string name;
};

struct HeaderInfo {
  uint8_t trace_id[16];
  uint64_t file_index = 0;
  uint64_t origin_mono_ns = 0;
  uint64_t origin_wall_unix_ns = 0;
  uint64_t file_start_ns = 0;
  bool has_pid = false;
  uint64_t pid = 0;
  // Empty optional strings are left out of the header.
  std::string hostname;
  std::string node_version;
  std::string service_name;
  std::string producer;
  std::string platform;
  bool has_threadpool_size = false;
  uint64_t threadpool_size = 0;
  // Keys 13-15 (format 1.1); an empty note is left out.
  bool has_capabilities = false;
  uint64_t capabilities = 0;
  std::string attribution_note;
  bool has_stack_sampling = false;
  uint64_t stack_threshold_ns = 0;
  uint64_t stack_interval_ns = 0;
  std::vector<ThreadEntry> threads;
};

inline size_t VarintLength(uint64_t v) {
  size_t n = 1;
  while (v > 0x7f) {
    v >>= 7;
    n++;
  }
  return n;
}

inline uint64_t Zigzag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

class Encoder {
 public:
  const uint8_t* data() const { return buf_.data(); }
  size_t size() const { return size_; }
  void Clear() { size_ = 0; frame_start_ = kNoFrame; }
  // The time of the latest record encoded (records are never stamped earlier than this).
  uint64_t LastTimeNs() const { return last_time_ns_; }
  bool FrameOpen() const { return frame_start_ != kNoFrame; }
  size_t FrameBodyBytes() const {
    return FrameOpen() ? size_ - frame_start_ - wire::kFrameHeaderBytes : 0;
  }
  // Drops the first `n` bytes, keeping anything after them (an open frame is not allowed).
  void Consume(size_t n) {
    std::memmove(buf_.data(), buf_.data() + n, size_ - n);
    size_ -= n;
  }

  void WriteMagic() { Bytes(wire::kMagic, sizeof wire::kMagic); }

  void WriteHeader(const HeaderInfo& h) {
    OpenFrame(wire::kFrameHeader);
    Varint(wire::kFormatMajor);
    Varint(wire::kFormatMinor);
    EntryBytes(wire::kTraceId, h.trace_id, 16);
    EntryVarint(wire::kFileIndex, h.file_index);
    Varint(wire::kClockAnchor);
    Varint(VarintLength(h.origin_mono_ns) + VarintLength(h.origin_wall_unix_ns));
    Varint(h.origin_mono_ns);
    Varint(h.origin_wall_unix_ns);
    EntryVarint(wire::kFileStartNs, h.file_start_ns);
    if (h.has_pid) EntryVarint(wire::kPid, h.pid);
    EntryString(wire::kHostname, h.hostname);
    EntryString(wire::kNodeVersion, h.node_version);
    EntryString(wire::kServiceName, h.service_name);
    EntryString(wire::kProducer, h.producer);
    for (const ThreadEntry& t : h.threads) {
      Varint(wire::kThread);
      Varint(VarintLength(t.thread_id) + VarintLength(t.node_thread_id) + VarintLength(t.kind) +
             t.name.size());
      Varint(t.thread_id);
      Varint(t.node_thread_id);
      Varint(t.kind);
      Bytes(reinterpret_cast<const uint8_t*>(t.name.data()), t.name.size());
    }
    EntryString(wire::kPlatform, h.platform);
    if (h.has_threadpool_size) EntryVarint(wire::kThreadpoolSize, h.threadpool_size);
    if (h.has_capabilities) EntryVarint(wire::kCapabilities, h.capabilities);
    EntryString(wire::kAttributionNote, h.attribution_note);
    if (h.has_stack_sampling) {
      Varint(wire::kStackSampling);
      Varint(VarintLength(h.stack_threshold_ns) + VarintLength(h.stack_interval_ns));
      Varint(h.stack_threshold_ns);
      Varint(h.stack_interval_ns);
    }
    CloseFrame();
  }

  void BeginFrame(uint64_t thread_id, uint64_t base_time_ns) {
    OpenFrame(wire::kFrameRecords);
    Varint(thread_id);
    Varint(base_time_ns);
    last_time_ns_ = base_time_ns;
  }

  void EndFrame() { CloseFrame(); }

  // A counted record; trailing zero fields are dropped (docs/FORMAT.md section 5). Signed fields
  // must already be zigzag-encoded. Times before the previous record's are clamped to it, since a
  // negative delta cannot be written.
  void Counted(uint8_t code, uint64_t time_ns, int field_count, uint64_t f0 = 0, uint64_t f1 = 0,
               uint64_t f2 = 0) {
    Reserve(1 + 10 * 4);
    int n = field_count;
    if (n == 3 && f2 == 0) n = 2;
    if (n == 2 && f1 == 0) n = 1;
    if (n == 1 && f0 == 0) n = 0;
    buf_[size_++] = static_cast<uint8_t>((n << wire::kShapeShift) | code);
    Dt(time_ns);
    if (n > 0) VarintUnchecked(f0);
    if (n > 1) VarintUnchecked(f1);
    if (n > 2) VarintUnchecked(f2);
  }

  void StringDef(uint64_t time_ns, uint64_t string_id, const std::string& value) {
    BlobHeader(wire::kStringDef, time_ns, VarintLength(string_id) + value.size());
    Varint(string_id);
    Bytes(reinterpret_cast<const uint8_t*>(value.data()), value.size());
  }

  struct StackFrame {
    uint64_t function_name_string_id;
    uint64_t script_string_id;
    uint64_t line;
    uint64_t column;
  };

  void StackDef(uint64_t time_ns, uint64_t stack_id, const std::vector<StackFrame>& frames) {
    size_t length = VarintLength(stack_id) + VarintLength(frames.size());
    for (const StackFrame& f : frames) {
      length += VarintLength(f.function_name_string_id) + VarintLength(f.script_string_id) +
                VarintLength(f.line) + VarintLength(f.column);
    }
    BlobHeader(wire::kStackDef, time_ns, length);
    Varint(stack_id);
    Varint(frames.size());
    for (const StackFrame& f : frames) {
      Varint(f.function_name_string_id);
      Varint(f.script_string_id);
      Varint(f.line);
      Varint(f.column);
    }
  }

  void TraceContext(uint64_t time_ns, uint64_t operation_id, const uint8_t trace_id[16],
                    const uint8_t span_id[8], const uint8_t parent_span_id[8],
                    uint8_t trace_flags) {
    BlobHeader(wire::kTraceContext, time_ns, VarintLength(operation_id) + 33);
    Varint(operation_id);
    Bytes(trace_id, 16);
    Bytes(span_id, 8);
    Bytes(parent_span_id, 8);
    Bytes(&trace_flags, 1);
  }

 private:
  static constexpr size_t kNoFrame = static_cast<size_t>(-1);

  void Reserve(size_t extra) {
    if (size_ + extra > buf_.size()) buf_.resize((size_ + extra) * 2);
  }
  void Bytes(const uint8_t* p, size_t n) {
    Reserve(n);
    if (n > 0) std::memcpy(buf_.data() + size_, p, n);
    size_ += n;
  }
  void Varint(uint64_t v) {
    Reserve(10);
    VarintUnchecked(v);
  }
  void VarintUnchecked(uint64_t v) {
    uint8_t* b = buf_.data();
    while (v > 0x7f) {
      b[size_++] = static_cast<uint8_t>(v | 0x80);
      v >>= 7;
    }
    b[size_++] = static_cast<uint8_t>(v);
  }
  void Dt(uint64_t time_ns) {
    uint64_t dt = time_ns > last_time_ns_ ? time_ns - last_time_ns_ : 0;
    if (time_ns > last_time_ns_) last_time_ns_ = time_ns;
    VarintUnchecked(dt);
  }
  void BlobHeader(uint8_t code, uint64_t time_ns, size_t content_bytes) {
    Reserve(1 + 10 + 10 + content_bytes);
    buf_[size_++] = static_cast<uint8_t>((wire::kShapeBytes << wire::kShapeShift) | code);
    Dt(time_ns);
    VarintUnchecked(content_bytes);
  }
  void EntryVarint(uint32_t key, uint64_t value) {
    Varint(key);
    Varint(VarintLength(value));
    Varint(value);
  }
  void EntryBytes(uint32_t key, const uint8_t* p, size_t n) {
    Varint(key);
    Varint(n);
    Bytes(p, n);
  }
  void EntryString(uint32_t key, const std::string& s) {
    if (s.empty()) return;
    EntryBytes(key, reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  void OpenFrame(uint8_t kind) {
    Reserve(wire::kFrameHeaderBytes + 32);
    frame_start_ = size_;
    size_ += wire::kFrameHeaderBytes;
    buf_[size_++] = kind;
  }
  void CloseFrame() {
    uint8_t* b = buf_.data() + frame_start_;
    uint32_t body = static_cast<uint32_t>(size_ - frame_start_ - wire::kFrameHeaderBytes);
    std::memcpy(b, wire::kSync, 4);
    b[4] = static_cast<uint8_t>(body);
    b[5] = static_cast<uint8_t>(body >> 8);
    b[6] = static_cast<uint8_t>(body >> 16);
    b[7] = static_cast<uint8_t>(body >> 24);
    uint32_t crc = Crc32c(Crc32c(0, b + 4, 4), b + wire::kFrameHeaderBytes, body);
    b[8] = static_cast<uint8_t>(crc);
    b[9] = static_cast<uint8_t>(crc >> 8);
    b[10] = static_cast<uint8_t>(crc >> 16);
    b[11] = static_cast<uint8_t>(crc >> 24);
    frame_start_ = kNoFrame;
  }

  std::vector<uint8_t> buf_;
  size_t size_ = 0;
  size_t frame_start_ = kNoFrame;
  uint64_t last_time_ns_ = 0;
};

}  // namespace looptrace

#endif  // LOOPTRACE_NATIVE_ENCODER_H_
