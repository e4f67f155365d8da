#include "js_batch.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "encoder.h"

namespace looptrace {

namespace {

constexpr double kMaxField = 9007199254740991.0;  // 2^53 - 1

// A field JavaScript wrote: an integer from 0 to 2^53 - 1, or nothing usable.
inline bool Field(double v, uint64_t* out) {
  if (!(v >= 0) || v > kMaxField) return false;
  *out = static_cast<uint64_t>(v);
  return static_cast<double>(*out) == v;
}

}  // namespace

bool JsBatch::Attach(napi_env env, napi_value array_buffer, uint64_t origin_ns) {
  void* data = nullptr;
  size_t bytes = 0;
  if (napi_get_arraybuffer_info(env, array_buffer, &data, &bytes) != napi_ok || data == nullptr) {
    return false;
  }
  const size_t doubles = bytes / sizeof(double);
  if (bytes % (kSlotDoubles * sizeof(double)) != 0 || doubles < kHeaderDoubles + kSlotDoubles ||
      (doubles - kHeaderDoubles) / kSlotDoubles > kMaxSlots) {
    return false;
  }
  napi_ref ref = nullptr;
  if (napi_create_reference(env, array_buffer, 1, &ref) != napi_ok) return false;
  Release(env);
  ref_ = ref;
  data_ = static_cast<double*>(data);
  slots_ = (doubles - kHeaderDoubles) / kSlotDoubles;
  read_ = 0;
  origin_ns_ = origin_ns;
  return true;
}

bool JsBatch::Attached(napi_env env, napi_value array_buffer) const {
  void* data = nullptr;
  size_t bytes = 0;
  return data_ != nullptr && napi_get_arraybuffer_info(env, array_buffer, &data, &bytes) == napi_ok &&
         data == data_;
}

void JsBatch::Release(napi_env env) {
  if (ref_ != nullptr) napi_delete_reference(env, ref_);
  ref_ = nullptr;
  data_ = nullptr;
  slots_ = 0;
  read_ = 0;
}

void JsBatch::Discard(bool reset) {
  if (data_ == nullptr) return;
  if (reset) {
    data_[0] = 0;
    read_ = 0;
  } else {
    uint64_t count = 0;
    if (Field(data_[0], &count) && count <= slots_) read_ = static_cast<size_t>(count);
  }
}

// Loop thread; no lock, no allocation except a trace context's definition (a lock and a map
// insert, once per sampled operation).
void JsBatch::Drain(Ring* ring, Definitions& defs, uint64_t now_ns, uint64_t floor_ns,
                    uint64_t not_before_ns, bool reset) {
  if (data_ == nullptr) return;
  uint64_t count = 0;
  // A count JavaScript could not have written: forget the batch rather than read past it.
  if (!Field(data_[0], &count) || count > slots_) count = read_;
  for (size_t i = read_; i < count; i++) {
    const double* s = data_ + kHeaderDoubles + i * kSlotDoubles;
    uint64_t head = 0, f0 = 0, f1 = 0;
    if (!Field(s[0], &head) || !Field(s[2], &f0) || !Field(s[3], &f1)) continue;
    const double ms = s[1];
    // performance.now() since the batch's origin. At most 9e12 ms (285 years), so that the time
    // in nanoseconds fits a long long for llround; the sum below is checked against wrapping.
    if (!(ms >= 0) || ms > 9e12) continue;
    const uint64_t offset_ns = static_cast<uint64_t>(std::llround(ms * 1e6));
    if (offset_ns > UINT64_MAX - origin_ns_) continue;
    uint64_t time = origin_ns_ + offset_ns;
    if (time < not_before_ns) continue;
    if (time < floor_ns) time = floor_ns;
    if (time > now_ns) time = now_ns;
    floor_ns = time;
    const uint8_t code = static_cast<uint8_t>(head & 0xff);
    switch (code) {
      case wire::kCallbackStart:
        // asyncId, resourceTypeStringId; siteStackId is never captured from here.
        ring->Push(code, time, f0, f1);
        break;
      case wire::kCallbackEnd:
        // asyncId, operationId.
        ring->Push(code, time, f0, f1);
        break;
      case wire::kOperationStart: {
        if (f0 == 0) break;
        uint8_t context[Definitions::kTraceContextBytes];
        std::memcpy(context, s + 4, 32);
        context[32] = static_cast<uint8_t>((head >> 8) & 0xff);
        defs.DefineTraceContext(f0, context);
        ring->Push(code, time, f0, f1);
        break;
      }
      case wire::kOperationEnd:
        ring->Push(code, time, f0, f1);
        break;
      default:
        break;
    }
  }
  if (reset) {
    data_[0] = 0;
    read_ = 0;
  } else {
    read_ = static_cast<size_t>(count);
  }
}

}  // namespace looptrace
