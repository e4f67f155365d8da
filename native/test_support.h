#ifndef LOOPTRACE_NATIVE_TEST_SUPPORT_H_
#define LOOPTRACE_NATIVE_TEST_SUPPORT_H_

// Entry points for tests and benchmarks, not for applications: the golden-vector check of the
// native encoder, and a measurement of the writer thread's throughput.

#include <napi.h>

namespace looptrace {

// encodeForTest(steps) -> Uint8Array. Steps are { op: 'magic' }, { op: 'header', header } and
// { op: 'frame', threadId, baseTimeNs, records }, with records lowered by the caller to
// { code, timeNs, fields } or the definition forms.
Napi::Value EncodeForTest(const Napi::CallbackInfo& info);

// benchmarkWriter(path, records) -> { seconds, records, bytes, dropped }. A native thread pushes
// synthetic loop records into a ring as fast as the writer thread drains it to a file.
Napi::Value BenchmarkWriter(const Napi::CallbackInfo& info);

}  // namespace looptrace

#endif  // LOOPTRACE_NATIVE_TEST_SUPPORT_H_
