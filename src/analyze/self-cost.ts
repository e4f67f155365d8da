// looptrace's own cost, from the SELF_COST records (docs/FORMAT.md 6.3): the CPU time of the
// writer and watchdog threads (process stream) and of the hooks, timers and stack samples of each
// loop (thread streams), as shares of the whole process's CPU time (component 0). Sums only:
// constant memory whatever the trace's length.

import { SelfCostComponent } from '../format/constants.js';

export interface SelfCostPart {
  cpuNs: number;
  /** cpuNs over the process's CPU time in the same span (0.001 is 0.1%). */
  ratio: number;
}

export interface SelfCostThread {
  threadId: number;
  name: string;
  cpuNs: number;
  ratio: number;
  hooksNs: number;
  timersNs: number;
  stacksNs: number;
}

export interface SelfCostReport {
  /** The whole process's CPU time (all threads) that the SELF_COST records cover. */
  processCpuNs: number;
  /** looptrace's own CPU time: the sum of the parts. */
  cpuNs: number;
  ratio: number;
  parts: { writer: SelfCostPart; watchdog: SelfCostPart; hooks: SelfCostPart; timers: SelfCostPart; stacks: SelfCostPart };
  /** Per loop: hooks, timers and stack samples on that thread. */
  threads: SelfCostThread[];
}

const PART_BY_COMPONENT: Record<number, keyof SelfCostReport['parts']> = {
  [SelfCostComponent.Writer]: 'writer',
  [SelfCostComponent.Watchdog]: 'watchdog',
  [SelfCostComponent.Hooks]: 'hooks',
  [SelfCostComponent.Timers]: 'timers',
  [SelfCostComponent.Stacks]: 'stacks',
};

export class SelfCostAccumulator {
  private processNs = 0;
  private seen = false;
  private readonly parts = { writer: 0, watchdog: 0, hooks: 0, timers: 0, stacks: 0 };
  private readonly threads = new Map<number, { hooksNs: number; timersNs: number; stacksNs: number }>();

  add(threadId: number, component: number, cpuNs: number): void {
    this.seen = true;
    if (component === SelfCostComponent.Process) {
      this.processNs += cpuNs;
      return;
    }
    const part = PART_BY_COMPONENT[component];
    // A component of a later format version: not ours to add up.
    if (part === undefined) return;
    this.parts[part] += cpuNs;
    if (threadId === 0) return;
    let t = this.threads.get(threadId);
    if (t === undefined) this.threads.set(threadId, (t = { hooksNs: 0, timersNs: 0, stacksNs: 0 }));
    if (part === 'hooks') t.hooksNs += cpuNs;
    else if (part === 'timers') t.timersNs += cpuNs;
    else if (part === 'stacks') t.stacksNs += cpuNs;
  }

  /** null when the trace has no SELF_COST records (an older recorder). */
  report(threadName: (threadId: number) => string): SelfCostReport | null {
    if (!this.seen) return null;
    const total = this.processNs;
    const ratio = (ns: number): number => (total > 0 ? ns / total : 0);
    const part = (ns: number): SelfCostPart => ({ cpuNs: ns, ratio: ratio(ns) });
    const p = this.parts;
    const cpuNs = p.writer + p.watchdog + p.hooks + p.timers + p.stacks;
    return {
      processCpuNs: total,
      cpuNs,
      ratio: ratio(cpuNs),
      parts: { writer: part(p.writer), watchdog: part(p.watchdog), hooks: part(p.hooks), timers: part(p.timers), stacks: part(p.stacks) },
      threads: [...this.threads.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([threadId, t]) => {
          const own = t.hooksNs + t.timersNs + t.stacksNs;
          return { threadId, name: threadName(threadId), cpuNs: own, ratio: ratio(own), ...t };
        }),
    };
  }
}
