// Samplers decide which operations are recorded in detail (exported and written into the trace).
// Metrics count every operation whatever the decision. The decision of a root operation travels
// to other services in the traceparent sampled flag, where a parent-based sampler follows it.

import { invalidArgument } from './errors.js';

export interface SamplingInput {
  /** The operation's trace id (32 hex digits). */
  traceId: string;
  name: string;
  /** The parent's decision, when the operation has a parent (local or from a traceparent). */
  parent?: { sampled: boolean; remote: boolean } | undefined;
}

export interface Sampler {
  shouldSample(input: SamplingInput): boolean;
  /** For messages and the console: what this sampler does. */
  describe(): string;
}

export type SamplerConfig =
  | { type: 'always' }
  | { type: 'never' }
  | { type: 'ratio'; ratio: number }
  | { type: 'rate-limited'; perSecond: number }
  | { type: 'rules'; rules: Array<{ name: string; sampler: SamplerConfig | Sampler }>; fallback?: SamplerConfig | Sampler }
  | {
      type: 'parent-based';
      root: SamplerConfig | Sampler;
      remoteSampled?: SamplerConfig | Sampler;
      remoteNotSampled?: SamplerConfig | Sampler;
      localSampled?: SamplerConfig | Sampler;
      localNotSampled?: SamplerConfig | Sampler;
    }
  | { type: 'all' | 'any'; samplers: Array<SamplerConfig | Sampler> };

export const alwaysSample: Sampler = { shouldSample: () => true, describe: () => 'always' };
export const neverSample: Sampler = { shouldSample: () => false, describe: () => 'never' };

/** 2^52: the ratio sampler reads the trace id's last 13 hex digits (52 random bits). */
const RATIO_SCALE = 2 ** 52;

/**
 * Samples a fixed share of traces, decided by the trace id alone, so that every service with the
 * same ratio makes the same decision for a trace and a trace is kept whole. It reads the last 13
 * hex digits of the trace id, which are random in ids from this library and, by Trace Context
 * Level 2, in ids from other conforming tracers.
 */
export class RatioSampler implements Sampler {
  readonly ratio: number;
  private readonly bound: number;
  constructor(ratio: number) {
    if (typeof ratio !== 'number' || !(ratio >= 0 && ratio <= 1)) throw invalidArgument('sampler ratio', 'a number from 0 to 1', ratio);
    this.ratio = ratio;
    this.bound = Math.floor(ratio * RATIO_SCALE);
  }
  shouldSample(input: SamplingInput): boolean {
    if (this.ratio >= 1) return true;
    const v = Number.parseInt(input.traceId.slice(19, 32), 16);
    return v < this.bound;
  }
  describe(): string {
    return `ratio ${this.ratio}`;
  }
}

/**
 * Samples at most `perSecond` operations in each wall-clock second (windows aligned to whole
 * seconds of the given clock), first come first served.
 */
export class RateLimitedSampler implements Sampler {
  readonly perSecond: number;
  private readonly nowMs: () => number;
  private second = -1;
  private used = 0;
  constructor(perSecond: number, nowMs: () => number = Date.now) {
    if (typeof perSecond !== 'number' || !Number.isInteger(perSecond) || perSecond < 0) {
      throw invalidArgument('sampler perSecond', 'an integer of 0 or more', perSecond);
    }
    this.perSecond = perSecond;
    this.nowMs = nowMs;
  }
  shouldSample(): boolean {
    const second = Math.floor(this.nowMs() / 1000);
    if (second !== this.second) {
      this.second = second;
      this.used = 0;
    }
    if (this.used >= this.perSecond) return false;
    this.used++;
    return true;
  }
  describe(): string {
    return `at most ${this.perSecond}/s`;
  }
}

/** Turns a name pattern with `*` wildcards into a whole-name matcher. */
export function namePattern(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`, 's');
}

/** The first rule whose name pattern matches the operation's name decides; otherwise the fallback. */
export class RuleSampler implements Sampler {
  private readonly rules: Array<{ pattern: RegExp; source: string; sampler: Sampler }>;
  private readonly fallback: Sampler;
  constructor(rules: Array<{ name: string; sampler: Sampler }>, fallback: Sampler) {
    this.rules = rules.map((r) => ({ pattern: namePattern(r.name), source: r.name, sampler: r.sampler }));
    this.fallback = fallback;
  }
  shouldSample(input: SamplingInput): boolean {
    for (const rule of this.rules) if (rule.pattern.test(input.name)) return rule.sampler.shouldSample(input);
    return this.fallback.shouldSample(input);
  }
  describe(): string {
    return `rules [${this.rules.map((r) => `${r.source}: ${r.sampler.describe()}`).join(', ')}] else ${this.fallback.describe()}`;
  }
}

/**
 * Follows the parent's decision: a root operation asks `root`; a child of a sampled (or not
 * sampled) parent, local or remote, asks the matching sampler, which by default repeats the
 * parent's decision.
 */
export class ParentBasedSampler implements Sampler {
  constructor(
    private readonly root: Sampler,
    private readonly remoteSampled: Sampler = alwaysSample,
    private readonly remoteNotSampled: Sampler = neverSample,
    private readonly localSampled: Sampler = alwaysSample,
    private readonly localNotSampled: Sampler = neverSample,
  ) {}
  shouldSample(input: SamplingInput): boolean {
    const parent = input.parent;
    if (parent === undefined) return this.root.shouldSample(input);
    if (parent.remote) return (parent.sampled ? this.remoteSampled : this.remoteNotSampled).shouldSample(input);
    return (parent.sampled ? this.localSampled : this.localNotSampled).shouldSample(input);
  }
  describe(): string {
    return `parent-based (root: ${this.root.describe()})`;
  }
}

/**
 * All: sampled when every sampler says yes; any: when one does. Samplers are asked in order and
 * the asking stops at the first decisive answer, so a rate limit placed last only spends its
 * budget on operations the samplers before it accepted.
 */
export class CompositeSampler implements Sampler {
  constructor(
    private readonly mode: 'all' | 'any',
    private readonly samplers: Sampler[],
  ) {}
  shouldSample(input: SamplingInput): boolean {
    if (this.mode === 'all') {
      for (const s of this.samplers) if (!s.shouldSample(input)) return false;
      return true;
    }
    for (const s of this.samplers) if (s.shouldSample(input)) return true;
    return false;
  }
  describe(): string {
    return `${this.mode} of [${this.samplers.map((s) => s.describe()).join(', ')}]`;
  }
}

function isSampler(value: unknown): value is Sampler {
  return typeof value === 'object' && value !== null && typeof (value as Sampler).shouldSample === 'function';
}

/** Builds a sampler from its configuration object; a Sampler instance is used as it is. */
export function createSampler(config: unknown, path = 'operations.sampler'): Sampler {
  if (isSampler(config)) {
    if (typeof config.describe !== 'function') return { shouldSample: (i) => config.shouldSample(i), describe: () => 'custom' };
    return config;
  }
  if (typeof config !== 'object' || config === null) throw invalidArgument(path, 'a sampler or a sampler configuration such as { type: "ratio", ratio: 0.1 }', config);
  const c = config as Record<string, unknown>;
  switch (c['type']) {
    case 'always':
      return alwaysSample;
    case 'never':
      return neverSample;
    case 'ratio':
      if (typeof c['ratio'] !== 'number' || !(c['ratio'] >= 0 && c['ratio'] <= 1)) throw invalidArgument(`${path}.ratio`, 'a number from 0 to 1', c['ratio']);
      return new RatioSampler(c['ratio']);
    case 'rate-limited':
      if (typeof c['perSecond'] !== 'number' || !Number.isInteger(c['perSecond']) || c['perSecond'] < 0) {
        throw invalidArgument(`${path}.perSecond`, 'an integer of 0 or more', c['perSecond']);
      }
      return new RateLimitedSampler(c['perSecond']);
    case 'rules': {
      const rules = c['rules'];
      if (!Array.isArray(rules)) throw invalidArgument(`${path}.rules`, 'an array of { name, sampler }', rules);
      const built = rules.map((r: unknown, i: number) => {
        const rule = r as Record<string, unknown> | null;
        if (typeof rule !== 'object' || rule === null || typeof rule['name'] !== 'string' || rule['name'].length === 0) {
          throw invalidArgument(`${path}.rules[${i}].name`, 'a non-empty name pattern', rule === null || typeof rule !== 'object' ? rule : rule['name']);
        }
        return { name: rule['name'], sampler: createSampler(rule['sampler'], `${path}.rules[${i}].sampler`) };
      });
      return new RuleSampler(built, c['fallback'] === undefined ? alwaysSample : createSampler(c['fallback'], `${path}.fallback`));
    }
    case 'parent-based': {
      const opt = (key: string): Sampler | undefined => (c[key] === undefined ? undefined : createSampler(c[key], `${path}.${key}`));
      return new ParentBasedSampler(
        createSampler(c['root'], `${path}.root`),
        opt('remoteSampled'),
        opt('remoteNotSampled'),
        opt('localSampled'),
        opt('localNotSampled'),
      );
    }
    case 'all':
    case 'any': {
      const list = c['samplers'];
      if (!Array.isArray(list) || list.length === 0) throw invalidArgument(`${path}.samplers`, 'a non-empty array of samplers', list);
      return new CompositeSampler(c['type'], list.map((s: unknown, i: number) => createSampler(s, `${path}.samplers[${i}]`)));
    }
    default:
      throw invalidArgument(`${path}.type`, 'one of always, never, ratio, rate-limited, rules, parent-based, all, any', c['type']);
  }
}
