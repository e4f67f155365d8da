#include "definitions.h"

#include <algorithm>
#include <cstring>

namespace looptrace {

namespace {

// Cuts `value` to at most `max` bytes without splitting a UTF-8 sequence.
std::string CutUtf8(const std::string& value, size_t max) {
  if (value.size() <= max) return value;
  size_t end = max;
  while (end > 0 && (static_cast<uint8_t>(value[end]) & 0xc0) == 0x80) end--;
  return value.substr(0, end);
}

}  // namespace

uint64_t Definitions::InternStringLocked(const std::string& raw) {
  const std::string value = CutUtf8(raw, kMaxStringLength);
  auto it = string_ids_.find(value);
  if (it != string_ids_.end()) return it->second;
  if (strings_.size() >= kMaxStrings || string_bytes_ + value.size() > kMaxStringBytes) {
    misses_++;
    return 0;
  }
  strings_.push_back(value);
  string_bytes_ += value.size();
  uint64_t id = strings_.size();
  string_ids_.emplace(value, id);
  pending_.push_back({kString, id});
  return id;
}

uint64_t Definitions::InternString(const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  return InternStringLocked(value);
}

uint64_t Definitions::InternStack(const std::vector<Encoder::StackFrame>& frames) {
  std::string key(reinterpret_cast<const char*>(frames.data()),
                  frames.size() * sizeof(Encoder::StackFrame));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = stack_ids_.find(key);
  if (it != stack_ids_.end()) return it->second;
  if (stacks_.size() >= kMaxStacks) {
    misses_++;
    return 0;
  }
  stacks_.push_back(frames);
  uint64_t id = stacks_.size();
  stack_ids_.emplace(std::move(key), id);
  pending_.push_back({kStack, id});
  return id;
}

bool Definitions::DefineTraceContext(uint64_t operation_id, const uint8_t* context) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = contexts_.find(operation_id);
  if (it == contexts_.end() && contexts_.size() >= kMaxLiveTraceContexts) {
    misses_++;
    return false;
  }
  std::array<uint8_t, kTraceContextBytes>& slot = contexts_[operation_id];
  std::memcpy(slot.data(), context, kTraceContextBytes);
  pending_.push_back({kTraceContext, operation_id});
  return true;
}

void Definitions::EndOperation(uint64_t operation_id) {
  std::lock_guard<std::mutex> lock(mu_);
  contexts_.erase(operation_id);
}

bool Definitions::BlockingFrame(uint64_t stack_id, Encoder::StackFrame* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (stack_id == 0 || stack_id > stacks_.size() || stacks_[stack_id - 1].empty()) return false;
  const std::vector<Encoder::StackFrame>& frames = stacks_[stack_id - 1];
  *out = frames.front();
  for (const Encoder::StackFrame& f : frames) {
    if (f.script_string_id == 0 || f.script_string_id > strings_.size()) continue;
    const std::string& script = strings_[f.script_string_id - 1];
    if (script.empty() || script.compare(0, 5, "node:") == 0) continue;
    *out = f;
    break;
  }
  return true;
}

std::string Definitions::StringOf(uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return id == 0 || id > strings_.size() ? std::string() : strings_[id - 1];
}

bool Definitions::TraceContextOf(uint64_t operation_id, uint8_t* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = contexts_.find(operation_id);
  if (it == contexts_.end()) return false;
  std::memcpy(out, it->second.data(), kTraceContextBytes);
  return true;
}

uint64_t Definitions::misses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return misses_;
}

void Definitions::Encode(Encoder& enc, const Pending& p, uint64_t time_ns,
                         size_t target_frame_bytes) {
  if (!enc.FrameOpen()) enc.BeginFrame(0, time_ns);
  switch (p.kind) {
    case kString:
      enc.StringDef(time_ns, p.id, strings_[p.id - 1]);
      break;
    case kStack:
      enc.StackDef(time_ns, p.id, stacks_[p.id - 1]);
      break;
    case kTraceContext: {
      auto it = contexts_.find(p.id);
      // The writer drops a context when it writes the operation's end, which comes after this
      // definition in the same or a later pass; a missing one was redefined and ended since.
      if (it == contexts_.end()) return;
      const uint8_t* c = it->second.data();
      enc.TraceContext(time_ns, p.id, c, c + 16, c + 24, c[32]);
      break;
    }
  }
  if (enc.FrameBodyBytes() >= target_frame_bytes) enc.EndFrame();
}

void Definitions::WriteAll(Encoder& enc, uint64_t time_ns, size_t target_frame_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < strings_.size(); i++) {
    Encode(enc, {kString, i + 1}, time_ns, target_frame_bytes);
  }
  for (size_t i = 0; i < stacks_.size(); i++) {
    Encode(enc, {kStack, i + 1}, time_ns, target_frame_bytes);
  }
  for (const auto& entry : contexts_) {
    Encode(enc, {kTraceContext, entry.first}, time_ns, target_frame_bytes);
  }
  if (enc.FrameOpen()) enc.EndFrame();
}

}  // namespace looptrace
