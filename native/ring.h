#ifndef LOOPTRACE_NATIVE_RING_H_
#define LOOPTRACE_NATIVE_RING_H_

// A single-producer single-consumer ring of fixed-size events. The producer is one event loop
// thread and the consumer is the writer thread. Push() takes no lock, makes no syscall and
// allocates nothing: it is on the loop's hot path.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "encoder.h"

namespace looptrace {

// One record before encoding: the writer thread turns it into varints. Times are absolute
// uv_hrtime readings; the writer makes them relative to the trace's origin.
struct Event {
  uint64_t time_ns;
  uint64_t f0;
  uint64_t f1;
  uint32_t f2;
  uint8_t code;
  uint8_t padding[3];
};
static_assert(sizeof(Event) == 32, "events are half a cache line");

class Ring {
 public:
  explicit Ring(size_t capacity_pow2)
      : mask_(capacity_pow2 - 1), slots_(new Event[capacity_pow2]) {}

  // Producer only. When the ring is full the event is dropped and counted; the next event that
  // fits is preceded by a DROPPED record, so readers see exactly where the gap is.
  inline void Push(uint8_t code, uint64_t time_ns, uint64_t f0 = 0, uint64_t f1 = 0,
                   uint32_t f2 = 0) {
    uint64_t head = head_.load(std::memory_order_relaxed);
    size_t needed = pending_dropped_ == 0 ? 1 : 2;
    if (head - cached_tail_ + needed > mask_ + 1) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      if (head - cached_tail_ + needed > mask_ + 1) {
        pending_dropped_++;
        dropped_total_.store(dropped_total_.load(std::memory_order_relaxed) + 1,
                             std::memory_order_relaxed);
        return;
      }
    }
    if (pending_dropped_ != 0) {
      Event& d = slots_[head & mask_];
      d.time_ns = time_ns;
      d.f0 = pending_dropped_;
      d.f1 = 0;
      d.f2 = 0;
      d.code = wire::kDropped;
      head++;
      pending_dropped_ = 0;
    }
    Event& e = slots_[head & mask_];
    e.time_ns = time_ns;
    e.f0 = f0;
    e.f1 = f1;
    e.f2 = f2;
    e.code = code;
    head_.store(head + 1, std::memory_order_release);
  }

  // Consumer only: the producer's position now. Events pushed before this call are below it.
  uint64_t Head() const { return head_.load(std::memory_order_acquire); }

  // Consumer only. Copies up to `max` events, none at or past `limit` (a Head() reading), into
  // `out` and returns how many.
  size_t Pop(Event* out, size_t max, uint64_t limit) {
    uint64_t tail = tail_.load(std::memory_order_relaxed);
    uint64_t head = std::min<uint64_t>(head_.load(std::memory_order_acquire), limit);
    if (head <= tail) return 0;
    size_t n = static_cast<size_t>(head - tail);
    if (n > max) n = max;
    for (size_t i = 0; i < n; i++) out[i] = slots_[(tail + i) & mask_];
    tail_.store(tail + n, std::memory_order_release);
    return n;
  }

  // Producer only: true when the ring holds half its capacity or more, once per half a ring of
  // pushes. Costs a compare while the ring looks less than half full by the cached consumer
  // position, which lags (so it overstates the fill); then one read of the consumer's position.
  bool PastHighWater() {
    uint64_t head = head_.load(std::memory_order_relaxed);
    uint64_t half = (mask_ + 1) / 2;
    if (head - cached_tail_ < half || head - hurried_head_ < half) return false;
    cached_tail_ = tail_.load(std::memory_order_acquire);
    if (head - cached_tail_ < half) return false;
    hurried_head_ = head;
    return true;
  }

  // Producer only: true when the next Push() would drop.
  bool Full() {
    uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - cached_tail_ < mask_ + 1) return false;
    cached_tail_ = tail_.load(std::memory_order_acquire);
    return head - cached_tail_ >= mask_ + 1;
  }

  // Consumer only: records waiting now.
  size_t Backlog() const {
    return static_cast<size_t>(head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_relaxed));
  }

  bool Empty() const {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_relaxed);
  }
  uint64_t DroppedTotal() const { return dropped_total_.load(std::memory_order_relaxed); }
  size_t Capacity() const { return mask_ + 1; }

 private:
  const uint64_t mask_;
  std::unique_ptr<Event[]> slots_;
  // The producer's and the consumer's indexes live on separate cache lines.
  alignas(64) std::atomic<uint64_t> head_{0};
  uint64_t cached_tail_ = 0;
  // Producer only: the head when PastHighWater() last said yes.
  uint64_t hurried_head_ = 0;
  uint64_t pending_dropped_ = 0;
  std::atomic<uint64_t> dropped_total_{0};
  alignas(64) std::atomic<uint64_t> tail_{0};
};

}  // namespace looptrace

#endif  // LOOPTRACE_NATIVE_RING_H_
