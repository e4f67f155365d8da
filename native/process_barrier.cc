#include "process_barrier.h"

#ifdef __linux__
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace looptrace {

bool MembarrierReady() {
#if defined(__linux__) && defined(__NR_membarrier)
  static const bool ready = [] {
    long commands = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (commands < 0 || (commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
    return syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
  }();
  return ready;
#else
  return false;
#endif
}

bool ProcessWideBarrier() {
#if defined(__linux__) && defined(__NR_membarrier)
  return MembarrierReady() && syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
  return false;
#endif
}

}  // namespace looptrace
