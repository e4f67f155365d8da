#ifndef LOOPTRACE_NATIVE_PROCESS_BARRIER_H_
#define LOOPTRACE_NATIVE_PROCESS_BARRIER_H_

// A memory barrier on every running thread of the process (Linux membarrier, private expedited).
//
// looptrace's threads park (the writer, the stack watchdog) behind a flag that loop threads read
// on their hot path. Making that read an ordinary load needs the parking side to pay for the
// ordering: it sets its flag, runs ProcessWideBarrier() (about 10 µs, once per park), and only
// then looks at what the loops did. Either a loop thread's later read sees the flag, or the
// parking thread sees everything that loop thread wrote before that read. The loop side needs only
// a compiler fence between its writes and its read of the flag.

namespace looptrace {

// Registers the process for expedited membarrier (once); false where the kernel lacks it, and
// then nothing may park behind a flag.
bool MembarrierReady();

// The barrier itself; false when it failed (then the caller must not park).
bool ProcessWideBarrier();

}  // namespace looptrace

#endif  // LOOPTRACE_NATIVE_PROCESS_BARRIER_H_
