// The stack samples of one busy stretch, weighted by the time each stands for. A sample stands for
// the time from when it was taken until the next sample of the stretch, or until the stretch ends.
// A sample taken late (lagNs: the thread was outside JavaScript, in native code, when the stack was
// requested) also stands for its lag: the native call was made from the stack it shows. Samples are
// folded into per-stack sums as they arrive, so a stretch of any length keeps a bounded state.

/** At most this many distinct stacks are kept per stretch; samples of others are summed apart. */
const MAX_STACKS_PER_RUN = 64;

export interface StackWeight {
  stackId: number;
  samples: number;
  /** The time these samples stand for. */
  weightNs: number;
  /** The largest lag of these samples: time the thread spent outside JavaScript before one. */
  maxLagNs: number;
}

export interface RunSamples {
  /** Most sampled first (then most time). */
  stacks: StackWeight[];
  /** Samples in the stretch, including those of stacks beyond the kept ones. */
  samples: number;
  /** The time the samples stand for: from the first sample (or its request, when late) to the end. */
  sampledNs: number;
  /** Samples and time of stacks beyond the 64 kept. */
  otherSamples: number;
  otherNs: number;
  maxLagNs: number;
}

export class StretchSampler {
  private readonly stacks = new Map<number, StackWeight>();
  private samples = 0;
  private otherSamples = 0;
  private otherNs = 0;
  private maxLagNs = 0;
  /** The open sample: its stack (undefined: one beyond the kept stacks) and where its time starts. */
  private open: StackWeight | undefined;
  private openStartNs = -1;
  private firstStartNs = -1;
  private first: StackWeight | undefined;
  private lastTimeNs = -1;

  add(timeNs: number, stackId: number, lagNs: number): void {
    let startNs = timeNs - lagNs;
    if (this.lastTimeNs >= 0 && startNs < this.lastTimeNs) startNs = this.lastTimeNs;
    if (this.openStartNs >= 0) this.credit(startNs - this.openStartNs);
    let w = this.stacks.get(stackId);
    if (w === undefined && this.stacks.size < MAX_STACKS_PER_RUN) {
      w = { stackId, samples: 0, weightNs: 0, maxLagNs: 0 };
      this.stacks.set(stackId, w);
    }
    this.samples++;
    if (w === undefined) this.otherSamples++;
    else {
      w.samples++;
      if (lagNs > w.maxLagNs) w.maxLagNs = lagNs;
    }
    if (lagNs > this.maxLagNs) this.maxLagNs = lagNs;
    if (this.firstStartNs < 0) {
      this.firstStartNs = startNs;
      this.first = w;
    }
    this.open = w;
    this.openStartNs = startNs;
    this.lastTimeNs = timeNs;
  }

  /** Closes the stretch [startNs, endNs]: the last sample stands for the time up to its end. */
  finish(startNs: number, endNs: number): RunSamples {
    if (this.openStartNs >= 0 && endNs > this.openStartNs) this.credit(endNs - this.openStartNs);
    // A lag that reaches back before the stretch began is not the stretch's time.
    if (this.firstStartNs >= 0 && this.firstStartNs < startNs) {
      const excess = startNs - this.firstStartNs;
      if (this.first !== undefined) this.first.weightNs = Math.max(0, this.first.weightNs - excess);
      else this.otherNs = Math.max(0, this.otherNs - excess);
    }
    let sampledNs = this.otherNs;
    for (const w of this.stacks.values()) sampledNs += w.weightNs;
    const stacks = [...this.stacks.values()].sort((a, b) => b.samples - a.samples || b.weightNs - a.weightNs || a.stackId - b.stackId);
    return { stacks, samples: this.samples, sampledNs, otherSamples: this.otherSamples, otherNs: this.otherNs, maxLagNs: this.maxLagNs };
  }

  private credit(ns: number): void {
    if (ns <= 0) return;
    if (this.open === undefined) this.otherNs += ns;
    else this.open.weightNs += ns;
  }
}
