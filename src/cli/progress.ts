// A progress bar on stderr for large inputs, redrawn at most ten times a second and erased when
// done, so it never ends up in a log or in the report.

const REDRAW_INTERVAL_MS = 100;
const BAR_CELLS = 30;

export class ProgressBar {
  private readonly totalBytes: number;
  private readonly write: (text: string) => void;
  private readonly startedMs = Date.now();
  private lastDrawMs = 0;
  private drawn = false;

  constructor(totalBytes: number, write: (text: string) => void) {
    this.totalBytes = Math.max(1, totalBytes);
    this.write = write;
  }

  update(bytesRead: number): void {
    const now = Date.now();
    if (now - this.lastDrawMs < REDRAW_INTERVAL_MS) return;
    this.lastDrawMs = now;
    const share = Math.min(1, bytesRead / this.totalBytes);
    const filled = Math.round(share * BAR_CELLS);
    const seconds = (now - this.startedMs) / 1000;
    const rate = seconds > 0 ? bytesRead / (1 << 20) / seconds : 0;
    const mib = (n: number): string => (n / (1 << 20)).toFixed(0);
    this.write(`\r[${'#'.repeat(filled)}${'-'.repeat(BAR_CELLS - filled)}] ${Math.floor(share * 100)}% ${mib(bytesRead)}/${mib(this.totalBytes)} MiB ${rate.toFixed(0)} MiB/s `);
    this.drawn = true;
  }

  done(): void {
    if (this.drawn) this.write('\r\u001b[2K');
    this.drawn = false;
  }
}
