// The decode worker's PieceReader (src/view/browser/piece-reader.ts): whatever chunks a stream
// delivers, byte stream (read in place by a BYOB reader) or not (chunks copied in), the pieces it
// hands out are the stream's bytes in order, cut where the caller asks, each at most a piece long.

import { describe, expect, it } from 'vitest';
import { PieceReader } from '../src/view/browser/piece-reader.js';
import { Rng } from './helpers.js';

function bytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.u32() & 0xff;
  return out;
}

/** A stream of `data` in chunks of random sizes; a byte stream or a default one. */
function streamOf(data: Uint8Array, rng: Rng, byteStream: boolean): ReadableStream<Uint8Array> {
  let at = 0;
  const nextChunk = (): Uint8Array => {
    const n = Math.min(data.length - at, 1 + (rng.u32() % 3000));
    const chunk = data.slice(at, at + n);
    at += n;
    return chunk;
  };
  if (!byteStream) {
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (at >= data.length) controller.close();
        else controller.enqueue(nextChunk());
      },
    });
  }
  return new ReadableStream({
    type: 'bytes',
    pull(controller) {
      if (at >= data.length) {
        controller.close();
        controller.byobRequest?.respond(0);
        return;
      }
      const request = controller.byobRequest;
      // Fill the reader's own buffer when it offers one (as a browser may), or enqueue a chunk.
      if (request?.view !== null && request !== null && rng.u32() % 2 === 0) {
        const view = request.view as Uint8Array;
        const n = Math.min(view.byteLength, data.length - at, 1 + (rng.u32() % 3000));
        view.set(data.subarray(at, at + n));
        at += n;
        request.respond(n);
      } else {
        controller.enqueue(nextChunk());
      }
    },
  });
}

describe('PieceReader', () => {
  for (const byteStream of [true, false]) {
    it(`gives a ${byteStream ? 'byte' : 'default'} stream's bytes in order, in pieces cut where asked and at most pieceBytes`, async () => {
      const rng = new Rng(byteStream ? 31 : 32);
      for (let round = 0; round < 20; round++) {
        const data = bytes(rng, rng.range(0, 40_000));
        const pieceBytes = rng.range(1, 5000);
        const reader = new PieceReader(streamOf(data, rng, byteStream), pieceBytes);
        const got: number[] = [];
        // Cut the stream into "files" of random sizes, as runBytes() does.
        for (let left = data.length; left > 0; ) {
          const file = Math.min(left, rng.range(1, 12_000));
          for (let inFile = file; inFile > 0; ) {
            const piece = (await reader.next(inFile))!;
            expect(piece.length).toBeGreaterThan(0);
            expect(piece.length).toBeLessThanOrEqual(Math.min(inFile, pieceBytes));
            // Full pieces unless the file ends first.
            expect(piece.length).toBe(Math.min(inFile, pieceBytes));
            got.push(...piece);
            inFile -= piece.length;
          }
          left -= file;
        }
        expect(await reader.next(pieceBytes)).toBeUndefined();
        expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
        reader.close();
      }
    });
  }
});
