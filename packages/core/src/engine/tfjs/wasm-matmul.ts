/**
 * A faster front for the tfjs wasm backend's `BatchMatMul`. Its XNNPACK path serves only
 * untransposed operands with one batch; everything else falls into a plain loop that is
 * ~9x slower. Training hits that loop constantly: every linear layer multiplies by the
 * transposed weight (`x · Wᵀ`), and the gradients of a matmul are `dy · Bᵀ` and `Aᵀ · dy`.
 * This kernel transposes such operands with a JS copy first, and folds the batch of `a`
 * into its rows when `b` has a single batch, so those products take the fast path.
 * Results are the same products; only the summation kernel differs.
 */
import type * as tfTypes from '@tensorflow/tfjs';

interface WasmBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: string): tfTypes.TensorInfo;
  typedArrayFromHeap(info: tfTypes.TensorInfo): Float32Array | Int32Array;
  disposeData(dataId: object): boolean;
}

interface KernelArgs {
  inputs: Record<string, tfTypes.TensorInfo>;
  backend: WasmBackendLike;
  attrs: Record<string, unknown>;
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** `x` [..., r, c] → a new [..., c, r] (JS copy on the heap). */
function swapLastAxes(backend: WasmBackendLike, x: tfTypes.TensorInfo): tfTypes.TensorInfo {
  const lead = x.shape.slice(0, -2);
  const [r, c] = x.shape.slice(-2);
  const src = backend.readSync(x.dataId);
  const out = backend.makeOutput([...lead, c, r], 'float32');
  const o = backend.typedArrayFromHeap(out);
  const n = size(lead);
  for (let b = 0; b < n; b++) {
    const base = b * r * c;
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) o[base + j * r + i] = src[base + i * c + j];
  }
  return out;
}

let registered = false;

export function registerWasmMatmul(tf: typeof tfTypes): void {
  if (registered) return;
  const original = tf.getKernel('BatchMatMul', 'wasm') as tfTypes.KernelConfig | undefined;
  if (!original) return;
  registered = true;
  const plain = original.kernelFunc;
  const kernelFunc = ({ inputs, backend, attrs }: KernelArgs): tfTypes.TensorInfo => {
    const { a, b } = inputs;
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) {
      return plain({ inputs, backend, attrs } as unknown as Parameters<tfTypes.KernelFunc>[0]) as tfTypes.TensorInfo;
    }
    const temps: tfTypes.TensorInfo[] = [];
    let A = a, B = b;
    if (attrs.transposeA) temps.push(A = swapLastAxes(backend, a));
    if (attrs.transposeB) temps.push(B = swapLastAxes(backend, b));
    const leadA = A.shape.slice(0, -2), leadB = B.shape.slice(0, -2);
    const [M, K] = A.shape.slice(-2);
    const N = B.shape[B.shape.length - 1];
    const outLead = tf.broadcast_util.assertAndGetBroadcastShape(leadA, leadB);
    const call = (x: tfTypes.TensorInfo, y: tfTypes.TensorInfo): tfTypes.TensorInfo =>
      plain({ inputs: { a: x, b: y }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } } as unknown as Parameters<tfTypes.KernelFunc>[0]) as tfTypes.TensorInfo;
    let out: tfTypes.TensorInfo;
    if (size(leadB) === 1 && size(leadA) > 1 && size(outLead) === size(leadA)) {
      // [..., M, K] · [K, N]: one [batch·M, K] · [K, N] product, same buffers
      const a2 = { dataId: A.dataId, shape: [1, size(leadA) * M, K], dtype: 'float32' } as tfTypes.TensorInfo;
      const b2 = { dataId: B.dataId, shape: [1, B.shape[B.shape.length - 2], N], dtype: 'float32' } as tfTypes.TensorInfo;
      out = call(a2, b2);
    } else {
      out = call(A, B);
    }
    for (const t of temps) backend.disposeData(t.dataId);
    return { dataId: out.dataId, shape: [...outLead, M, N], dtype: 'float32' } as tfTypes.TensorInfo;
  };
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({ ...original, kernelFunc: kernelFunc as unknown as tfTypes.KernelFunc });
}
