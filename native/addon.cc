#include <napi.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "crc32c.h"

namespace {

// Must match "version" in package.json; bump both together.
constexpr const char* kAddonVersion = "0.1.0";

// Reads an optional offset argument. Returns false after throwing if the value is not an
// integer in [0, length]; the TypeScript layer gives the friendlier message, this is the backstop.
bool ReadOffset(const Napi::CallbackInfo& info, size_t index, const char* name, size_t length,
                size_t* out) {
  if (index >= info.Length() || info[index].IsUndefined()) {
    return true;
  }
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
Napi::Value Crc32c(const Napi::CallbackInfo& info) {
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
  uint32_t crc = looptrace::Crc32c(0, data.Data() + start, end - start);
  return Napi::Number::New(env, static_cast<double>(crc));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Reports the N-API version of the running Node, which may be newer than the NAPI_VERSION
  // this addon was compiled against.
  uint32_t napi_version = 0;
  if (napi_get_version(env, &napi_version) != napi_ok) {
    Napi::Error::New(env, "looptrace: napi_get_version failed").ThrowAsJavaScriptException();
    return exports;
  }
  exports.Set("addonVersion", Napi::String::New(env, kAddonVersion));
  exports.Set("napiVersion", Napi::Number::New(env, static_cast<double>(napi_version)));
  exports.Set("crc32c", Napi::Function::New(env, Crc32c, "crc32c"));
  return exports;
}

}  // namespace

NODE_API_MODULE(looptrace, Init)
