#ifndef LOOPTRACE_NATIVE_DEFINITIONS_H_
#define LOOPTRACE_NATIVE_DEFINITIONS_H_

// The interned strings, stacks and trace contexts of one trace (docs/FORMAT.md section 6.4).
// Any thread may define one: a loop thread that took a stack sample, JavaScript naming an
// operation, the writer naming a thread. The writer thread writes each new definition before the
// records that reference it, and repeats the live ones at the start of every file so that each
// file decodes alone. Interning allocates and takes a lock: it is never on a loop's hot path.

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "encoder.h"

namespace looptrace {

class Definitions {
 public:
  // Bounds on what a trace keeps, so that a process running for months neither grows without
  // limit nor repeats megabytes of definitions in every file. Past a bound, interning returns 0
  // ("none", which the format allows) and counts the miss.
  static constexpr size_t kMaxStrings = 1 << 16;
  static constexpr size_t kMaxStringBytes = 4 << 20;
  static constexpr size_t kMaxStringLength = 1024;
  static constexpr size_t kMaxStacks = 1 << 14;
  static constexpr size_t kMaxLiveTraceContexts = 1 << 16;
  static constexpr size_t kTraceContextBytes = 33;

  // Returns the string's id, or 0 when the table is full. Strings longer than kMaxStringLength
  // bytes are cut there (at a UTF-8 boundary).
  uint64_t InternString(const std::string& value);
  // Returns the stack's id (frames innermost first), or 0 when the table is full.
  uint64_t InternStack(const std::vector<Encoder::StackFrame>& frames);
  // Gives an operation its W3C trace context (16 bytes trace id, 8 span id, 8 parent span id,
  // 1 flags). False when too many operations are live.
  bool DefineTraceContext(uint64_t operation_id, const uint8_t* context);
  // Writer thread: the operation ended, so later files need not repeat its context.
  void EndOperation(uint64_t operation_id);

  // Writer thread: writes the definitions made since the last call as process-stream frames.
  // Returns false when `write` failed.
  template <typename WriteFn>
  bool WritePending(uint64_t time_ns, size_t target_frame_bytes, WriteFn&& write);
  // Writer thread: every live definition, for the start of a new file.
  void WriteAll(Encoder& enc, uint64_t time_ns, size_t target_frame_bytes);

  uint64_t misses() const;
  // The trace context of a live operation (33 bytes into `out`); false when it has none.
  bool TraceContextOf(uint64_t operation_id, uint8_t* out) const;
  // The blocking site of stack `stack_id`: its innermost frame of application code (a script that
  // is not Node's own "node:..." and not empty), else its innermost frame. False when there is no
  // such stack.
  bool BlockingFrame(uint64_t stack_id, Encoder::StackFrame* out) const;
  // The string `id` ("" for 0 or an unknown id).
  std::string StringOf(uint64_t id) const;

 private:
  enum Kind : uint8_t { kString, kStack, kTraceContext };
  struct Pending {
    Kind kind;
    uint64_t id;
  };
  // Caller holds mu_. Appends one definition to `enc`, opening and closing process frames so
  // that none grows past `target_frame_bytes`.
  void Encode(Encoder& enc, const Pending& p, uint64_t time_ns, size_t target_frame_bytes);
  uint64_t InternStringLocked(const std::string& value);

  mutable std::mutex mu_;
  std::unordered_map<std::string, uint64_t> string_ids_;
  std::vector<std::string> strings_;
  size_t string_bytes_ = 0;
  std::unordered_map<std::string, uint64_t> stack_ids_;
  std::vector<std::vector<Encoder::StackFrame>> stacks_;
  std::unordered_map<uint64_t, std::array<uint8_t, kTraceContextBytes>> contexts_;
  std::vector<Pending> pending_;
  uint64_t misses_ = 0;
};

template <typename WriteFn>
bool Definitions::WritePending(uint64_t time_ns, size_t target_frame_bytes, WriteFn&& write) {
  Encoder enc;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_.empty()) return true;
    for (const Pending& p : pending_) Encode(enc, p, time_ns, target_frame_bytes);
    pending_.clear();
  }
  if (enc.FrameOpen()) enc.EndFrame();
  return write(enc);
}

}  // namespace looptrace

#endif  // LOOPTRACE_NATIVE_DEFINITIONS_H_
