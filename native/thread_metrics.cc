#include "thread_metrics.h"

namespace looptrace {

// Stretch bookkeeping follows src/analyze/thread-stats.ts: a busy stretch runs from the end of
// blocking in one poll (its I/O callbacks) to the next POLL_START.
//
//   POLL_START(t1) ... POLL_END(t2, blocked) ... POLL_START(t3)
//   stretch = [t1 + blocked, t3]; active += (t2 - t1 - blocked) + (t3 - t2); idle += blocked
bool ThreadAggregator::Observe(const Event& e, uint64_t long_task_ns, const Definitions& defs, LongTask* done) {
  bool finished = false;
  if (has_pending_) {
    bool same_sample = (e.code == wire::kThreadCpu || e.code == wire::kThreadSched) &&
                       e.time_ns == pending_time_ns_;
    if (same_sample) {
      // The CPU sample the closing POLL_START took measures the stretch that just ended.
      if (e.code == wire::kThreadCpu) {
        pending_.cpu_wall_ns += e.f0;
        pending_.cpu_ns += e.f1;
      } else {
        pending_.runnable_ns += e.f0;
      }
      return false;
    }
    *done = pending_;
    has_pending_ = false;
    finished = true;
  }
  ThreadAggregates& a = published;
  switch (e.code) {
    case wire::kPollStart: {
      if (poll_end_ns_ != 0 && e.time_ns >= poll_end_ns_) {
        a.active_ns += e.time_ns - poll_end_ns_;
        uint64_t stretch = e.time_ns - stretch_start_ns_;
        a.stretches.Add(stretch);
        if (long_task_ns > 0 && stretch >= long_task_ns) {
          a.long_tasks++;
          a.long_task_ns += stretch;
          pending_ = LongTask();
          pending_.start_unix_ns = stretch_start_ns_;  // made wall-clock by the recorder
          pending_.end_unix_ns = e.time_ns;
          pending_.io_ns = stretch_io_ns_;
          pending_.cpu_ns = stretch_cpu_ns_;
          pending_.cpu_wall_ns = stretch_cpu_wall_ns_;
          pending_.runnable_ns = stretch_runnable_ns_;
          pending_.gc_ns = stretch_gc_ns_;
          pending_.has_frame = MostSampledFrame(defs, &pending_.frame);
          pending_.stack_samples = stretch_samples_;
          pending_.operation_id = stretch_operation_id_ != 0 ? stretch_operation_id_ : running_operation_id_;
          if (has_context_) {
            pending_.has_context = true;
            std::memcpy(pending_.context, context_, sizeof context_);
          } else if (pending_.operation_id != 0) {
            pending_.has_context = defs.TraceContextOf(pending_.operation_id, pending_.context);
          }
          pending_time_ns_ = e.time_ns;
          has_pending_ = true;
        }
      }
      ResetStretch();
      poll_start_ns_ = e.time_ns;
      poll_end_ns_ = 0;
      break;
    }
    case wire::kPollEnd: {
      a.events += e.f1;
      a.last_events_waiting = e.f2;
      if (poll_start_ns_ != 0 && e.time_ns >= poll_start_ns_) {
        uint64_t poll = e.time_ns - poll_start_ns_;
        uint64_t blocked = e.f0 < poll ? e.f0 : poll;
        a.idle_ns += blocked;
        a.active_ns += poll - blocked;
        a.iterations++;
        stretch_start_ns_ = poll_start_ns_ + blocked;
        stretch_io_ns_ = poll - blocked;
        poll_end_ns_ = e.time_ns;
      } else {
        ResetStretch();
        poll_end_ns_ = 0;
      }
      poll_start_ns_ = 0;
      break;
    }
    case wire::kThreadCpu:
      if (poll_end_ns_ != 0 || poll_start_ns_ != 0) {
        stretch_cpu_wall_ns_ += e.f0;
        stretch_cpu_ns_ += e.f1;
      }
      break;
    case wire::kThreadSched:
      if (poll_end_ns_ != 0 || poll_start_ns_ != 0) stretch_runnable_ns_ += e.f0;
      break;
    case wire::kGcPause:
      a.gc[GcKind(static_cast<uint32_t>(e.f1))].Add(e.f0);
      stretch_gc_ns_ += e.f0;
      break;
    case wire::kThreadpoolProbe:
      a.threadpool_delay.Add(e.f0);
      break;
    case wire::kStackSample:
      // Reason 0: taken because the loop was busy; the first one names the stretch's code.
      if (e.f2 == 0 && e.f0 != 0) {
        stretch_samples_++;
        for (int i = 0; i < kStackSlots; i++) {
          if (stretch_stack_ids_[i] == e.f0 || stretch_stack_ids_[i] == 0) {
            stretch_stack_ids_[i] = e.f0;
            stretch_stack_counts_[i]++;
            break;
          }
        }
      }
      break;
    case wire::kOperationStart:
      running_operation_id_ = e.f0;
      stretch_operation_id_ = e.f0;
      break;
    case wire::kOperationEnd: {
      // An operation that ends inside a stretch already long: keep its trace context now, since
      // the writer forgets it once this record is encoded.
      uint64_t began = poll_end_ns_ != 0 ? stretch_start_ns_ : poll_start_ns_;
      if (long_task_ns > 0 && began != 0 && e.time_ns >= began + long_task_ns && !has_context_ &&
          e.f0 == stretch_operation_id_) {
        has_context_ = defs.TraceContextOf(e.f0, context_);
      }
      if (running_operation_id_ == e.f0) running_operation_id_ = 0;
      break;
    }
    case wire::kDropped:
    case wire::kResumed:
      Forget();
      break;
    default:
      break;
  }
  return finished;
}

// Everything gathered since the last POLL_START belongs to the next stretch (the poll phase's
// I/O callbacks are its first part), so the stretch's sums start over at each POLL_START.
void ThreadAggregator::ResetStretch() {
  stretch_start_ns_ = 0;
  stretch_io_ns_ = 0;
  stretch_cpu_ns_ = 0;
  stretch_cpu_wall_ns_ = 0;
  stretch_runnable_ns_ = 0;
  stretch_gc_ns_ = 0;
  for (int i = 0; i < kStackSlots; i++) {
    stretch_stack_ids_[i] = 0;
    stretch_stack_counts_[i] = 0;
  }
  stretch_samples_ = 0;
  stretch_operation_id_ = 0;
  has_context_ = false;
}

bool ThreadAggregator::MostSampledFrame(const Definitions& defs, Encoder::StackFrame* out) const {
  // Stacks that differ only above the blocking site (in Node's own frames) count for one site.
  Encoder::StackFrame sites[kStackSlots];
  uint32_t counts[kStackSlots] = {};
  int n = 0;
  for (int i = 0; i < kStackSlots && stretch_stack_ids_[i] != 0; i++) {
    Encoder::StackFrame f;
    if (!defs.BlockingFrame(stretch_stack_ids_[i], &f)) continue;
    int j = 0;
    while (j < n && !(sites[j].function_name_string_id == f.function_name_string_id &&
                      sites[j].script_string_id == f.script_string_id && sites[j].line == f.line)) {
      j++;
    }
    if (j == n) sites[n++] = f;
    counts[j] += stretch_stack_counts_[i];
  }
  int best = -1;
  for (int j = 0; j < n; j++) {
    if (best < 0 || counts[j] > counts[best]) best = j;
  }
  if (best < 0) return false;
  *out = sites[best];
  return true;
}

void ThreadAggregator::Forget() {
  poll_start_ns_ = 0;
  poll_end_ns_ = 0;
  ResetStretch();
}

bool ThreadAggregator::TakePending(LongTask* out) {
  if (!has_pending_) return false;
  *out = pending_;
  has_pending_ = false;
  return true;
}

}  // namespace looptrace
