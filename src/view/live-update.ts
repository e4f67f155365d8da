// One update of the live view, sent once a second over Server-Sent Events (live-follower.ts) and
// shown by the page (browser/live-panel.ts).

export interface LiveUpdate {
  timeUnixMs: number;
  threads: { threadId: number; name: string; utilization: number | null }[];
  longTasks: { threadId: number; threadName: string; durationNs: number; startUnixMs: number; stack: string[] }[];
  threadpool: { count: number; p50Ns: number; maxNs: number };
}
