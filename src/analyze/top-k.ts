// Keeps the K largest items seen, in a binary min-heap, so that "worst first" lists of a trace of
// any length cost K items of memory. Ties keep the earlier item, so results are deterministic.

export class TopK<T> {
  readonly capacity: number;
  private readonly heap: T[] = [];
  private readonly score: (item: T) => number;
  private offered = 0;

  constructor(capacity: number, score: (item: T) => number) {
    if (!Number.isInteger(capacity) || capacity < 0) {
      throw new RangeError(`looptrace: a top-K capacity is a non-negative integer, got ${String(capacity)}`);
    }
    this.capacity = capacity;
    this.score = score;
  }

  /** How many items were offered in all, kept or not. */
  get seen(): number {
    return this.offered;
  }

  /** Whether an item with this score would be kept: lets callers skip building items that would not. */
  accepts(score: number): boolean {
    if (this.capacity === 0) return false;
    return this.heap.length < this.capacity || score > this.score(this.heap[0]!);
  }

  offer(item: T): void {
    this.offered++;
    if (this.capacity === 0) return;
    const heap = this.heap;
    if (heap.length < this.capacity) {
      heap.push(item);
      this.siftUp(heap.length - 1);
      return;
    }
    if (this.score(item) <= this.score(heap[0]!)) return;
    heap[0] = item;
    this.siftDown(0);
  }

  /** The kept items, largest score first. */
  sorted(): T[] {
    return [...this.heap].sort((a, b) => this.score(b) - this.score(a));
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const item = heap[i]!;
    const s = this.score(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.score(heap[parent]!) <= s) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = item;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[i]!;
    const s = this.score(item);
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.score(heap[right]!) < this.score(heap[left]!) ? right : left;
      if (this.score(heap[child]!) >= s) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = item;
  }
}
