// The part of autocannon's programmatic API that scripts/compare-overhead-load.ts uses (the
// package ships no types).
declare module 'autocannon' {
  interface AutocannonOptions {
    url: string;
    connections?: number;
    pipelining?: number;
    /** Seconds. */
    duration?: number;
    /** Milliseconds between samples; the run stops at the first sample after `duration`. */
    sampleInt?: number;
  }
  interface Percentiles {
    average: number;
    p50: number;
    p99: number;
    total: number;
  }
  interface AutocannonResult {
    /** Seconds, to 10 ms. */
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    latency: Percentiles;
    requests: Percentiles;
  }
  function autocannon(options: AutocannonOptions, callback: (error: Error | null, result: AutocannonResult) => void): unknown;
  export default autocannon;
}
