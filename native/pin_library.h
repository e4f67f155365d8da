#ifndef LOOPTRACE_NATIVE_PIN_LIBRARY_H_
#define LOOPTRACE_NATIVE_PIN_LIBRARY_H_

// Node unloads an addon (dlclose) when the last environment that loaded it goes away, for
// example when the only worker that used looptrace exits. looptrace's code must outlive that:
// its writer and watchdog threads, the exit handler it registers with atexit(), and the
// attribution table the core keeps a pointer to. Re-opening the library with RTLD_NODELETE
// keeps it mapped until the process ends. (Under ThreadSanitizer, whose atexit interceptor does
// not follow a library's unloading, an unloaded library's exit handler made the process crash
// at exit.)

#include <dlfcn.h>

namespace looptrace {

// `address`: any function of the library to pin. Returns false when the library could not be
// found or pinned; nothing else depends on it.
inline bool PinLibraryOf(const void* address) {
  Dl_info info;
  if (dladdr(address, &info) == 0 || info.dli_fname == nullptr) return false;
  // RTLD_NOLOAD: only the library that is already loaded; the handle is deliberately kept.
  return dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != nullptr;
}

}  // namespace looptrace

#endif  // LOOPTRACE_NATIVE_PIN_LIBRARY_H_
