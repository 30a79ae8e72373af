/**
 * Floating-point operations of a traced graph, counted from its node shapes: the
 * multiply-adds of `MatMul`, `Gemm`, `Conv` and the int8 `DynamicQuantizeMatMul` and `ConvInteger` (2 per multiply-add), which is what the
 * benchmarks' GFLOP/s figures (and PEER_BENCH.md's FLOP column) mean. Elementwise ops,
 * norms and softmax are left out: they are memory-bound and a small share of the work.
 */
import type { GraphBuilder } from './graph';

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** FLOPs of one run of the graph `g`. */
export function graphFlops(g: GraphBuilder): number {
  let flops = 0;
  for (const n of g.nodes) {
    const shapeOf = (i: number): readonly number[] | undefined => g.shapes.get(n.inputs[i]);
    const out = g.shapes.get(n.outputs[0]);
    const a = shapeOf(0), b = shapeOf(1);
    if (!out || !a || !b) continue;
    if (n.op === 'MatMul' || n.op === 'DynamicQuantizeMatMul') {
      flops += 2 * prod(out) * a[a.length - 1];
    } else if (n.op === 'Gemm') {
      const transA = n.attrs.transA === 1;
      flops += 2 * prod(out) * (transA ? a[0] : a[1]);
    } else if (n.op === 'Conv' || n.op === 'ConvInteger') {
      // out [N, Co, ...spatial], weight [Co, Ci/groups, ...kernel]
      flops += 2 * prod(out) * prod(b.slice(1));
    }
  }
  return flops;
}
