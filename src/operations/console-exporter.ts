// Prints finished operations as a tree, one tree per local root, when the root ends:
//
//   ✓ GET /orders/:id  12.3 ms  trace 4bf92f35…
//   ├─ ✓ db.query  3.10 ms
//   └─ ✗ charge-card  8.00 ms  FAILED Error: card declined
//
// Slow operations (at least slowMs) are marked SLOW, failed ones FAILED, cancelled ones
// CANCELLED; colours on a terminal. Every application string is escaped before printing.

import { formatDuration } from '../analyze/format.js';
import { palette, useColor, type Palette } from '../cli/ansi.js';
import { escapeTerminal } from './escape.js';
import type { OperationExporter } from './exporters.js';
import type { OperationData } from './operation.js';

export interface ConsoleExporterOptions {
  /** Where trees go. Default process.stderr. */
  stream?: { write(s: string): unknown; isTTY?: boolean };
  /** Operations at least this long are marked SLOW. Default 100 ms. */
  slowMs?: number;
  /** Colours; default: on for a terminal, following NO_COLOR and FORCE_COLOR. */
  color?: boolean;
  /** Children waiting for their root; beyond this the oldest are printed alone. Default 10,000. */
  maxPending?: number;
}

export class ConsoleExporter implements OperationExporter {
  private readonly stream: { write(s: string): unknown };
  private readonly slowNs: number;
  private readonly p: Palette;
  private readonly maxPending: number;
  /** Ended operations whose local root is still running, by the span id of their parent. */
  private readonly childrenOf = new Map<string, OperationData[]>();
  private pending = 0;
  /** Span ids of operations that started here and have not ended. */
  private readonly running = new Set<string>();

  constructor(options: ConsoleExporterOptions = {}) {
    const stream = options.stream ?? process.stderr;
    this.stream = stream;
    this.slowNs = (options.slowMs ?? 100) * 1e6;
    this.maxPending = options.maxPending ?? 10_000;
    this.p = palette(useColor(stream.isTTY === true, process.env, options.color));
  }

  onStart(op: OperationData): void {
    this.running.add(op.spanId);
  }

  onEnd(op: OperationData): void {
    this.running.delete(op.spanId);
    const parent = op.parentSpanId;
    if (parent !== undefined && !op.remoteParent && this.running.has(parent)) {
      let list = this.childrenOf.get(parent);
      if (list === undefined) this.childrenOf.set(parent, (list = []));
      list.push(op);
      if (++this.pending > this.maxPending) this.evictOldest();
      return;
    }
    this.stream.write(this.render(op));
  }

  /** The tree under `op` as text (exported for tests). */
  render(op: OperationData): string {
    const lines: string[] = [];
    this.renderNode(op, '', '', lines, true);
    return lines.join('\n') + '\n';
  }

  private renderNode(op: OperationData, prefix: string, childPrefix: string, lines: string[], root: boolean): void {
    const p = this.p;
    const mark = op.status === 'completed' ? p.green('✓') : op.status === 'failed' ? p.red('✗') : p.yellow('⊘');
    let line = `${prefix}${mark} ${p.bold(escapeTerminal(op.name))}  ${formatDuration(op.durationNs)}`;
    if (op.durationNs >= this.slowNs) line += `  ${p.yellow('SLOW')}`;
    if (op.status === 'failed') line += `  ${p.red('FAILED')}${op.error === undefined ? '' : ' ' + escapeTerminal(`${op.error.name}: ${op.error.message}`)}`;
    if (op.status === 'cancelled') line += `  ${p.yellow('CANCELLED')}`;
    if (root) line += p.dim(`  trace ${op.traceId}`);
    const attrs = Object.keys(op.attributes);
    if (attrs.length > 0) line += p.dim(`  ${attrs.map((k) => escapeTerminal(`${k}=${String(op.attributes[k])}`)).join(' ')}`);
    lines.push(line);
    const children = this.childrenOf.get(op.spanId);
    if (children === undefined) return;
    this.childrenOf.delete(op.spanId);
    this.pending -= children.length;
    children.sort((a, b) => a.startTimeMs - b.startTimeMs);
    children.forEach((child, i) => {
      const last = i === children.length - 1;
      this.renderNode(child, childPrefix + (last ? '└─ ' : '├─ '), childPrefix + (last ? '   ' : '│  '), lines, false);
    });
  }

  private evictOldest(): void {
    const first = this.childrenOf.keys().next();
    if (first.done === true) return;
    const list = this.childrenOf.get(first.value)!;
    this.childrenOf.delete(first.value);
    this.pending -= list.length;
    for (const op of list) this.stream.write(this.render(op));
  }
}
