/**
 * Gradient kernels the tfjs wasm backend lacks (it ships forward kernels only for
 * these): `UnsortedSegmentSum` (the gradient of gather, hence of every embedding) and
 * `Conv2DBackpropFilter` (the weight gradient of every convolution); and a replacement
 * for its `Conv2DBackpropInput`, whose direct loop made the input gradient of a 3x3
 * convolution ~30x slower than its forward pass. They run in JS on the backend's heap
 * (copies and scatters), with the multiply-adds on wasm's own SIMD matmul kernel.
 */
import type * as tfTypes from '@tensorflow/tfjs';

interface WasmBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: string): tfTypes.TensorInfo;
  typedArrayFromHeap(info: tfTypes.TensorInfo): Float32Array | Int32Array;
  disposeData(dataId: object): boolean;
}

/** The wasm backend's own matmul and convolution kernels, which the gradients reuse. */
let batchMatMulKernel: tfTypes.KernelFunc | undefined;
let conv2dKernel: tfTypes.KernelFunc | undefined;

let registered = false;

export function registerWasmGradientKernels(tf: typeof tfTypes): void {
  if (registered) return;
  registered = true;
  const matmul = tf.getKernel('BatchMatMul', 'wasm') as tfTypes.KernelConfig | undefined;
  batchMatMulKernel = matmul?.kernelFunc;
  conv2dKernel = (tf.getKernel('Conv2D', 'wasm') as tfTypes.KernelConfig | undefined)?.kernelFunc;
  if (!tf.getKernel('UnsortedSegmentSum', 'wasm')) {
    tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSum as unknown as tfTypes.KernelFunc });
  }
  if (!tf.getKernel('Conv2DBackpropFilter', 'wasm') && matmul) {
    tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilter as unknown as tfTypes.KernelFunc });
  }
  const backpropInput = tf.getKernel('Conv2DBackpropInput', 'wasm') as tfTypes.KernelConfig | undefined;
  if (matmul && conv2dKernel && backpropInput) {
    wasmConv2dBackpropInput = backpropInput.kernelFunc;
    tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
    tf.registerKernel({ kernelName: 'Conv2DBackpropInput', backendName: 'wasm', kernelFunc: conv2dBackpropInput as unknown as tfTypes.KernelFunc });
  }
}

/** The backend's own Conv2DBackpropInput, kept for the layouts the replacement does not take. */
let wasmConv2dBackpropInput: tfTypes.KernelFunc | undefined;

interface KernelArgs {
  inputs: Record<string, tfTypes.TensorInfo>;
  backend: WasmBackendLike;
  attrs: Record<string, unknown>;
}

/** out[segment[i], ...] += x[i, ...] for i over the leading axes of `segmentIds`. */
function unsortedSegmentSum({ inputs, backend, attrs }: KernelArgs): tfTypes.TensorInfo {
  const { x, segmentIds } = inputs;
  const numSegments = attrs.numSegments as number;
  const xs = backend.readSync(x.dataId);
  const ids = backend.readSync(segmentIds.dataId);
  const inner = x.shape.slice(segmentIds.shape.length).reduce((a, b) => a * b, 1);
  const out = backend.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  const o = backend.typedArrayFromHeap(out);
  o.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const seg = ids[i];
    if (seg < 0 || seg >= numSegments) continue;
    const src = i * inner, dst = seg * inner;
    for (let j = 0; j < inner; j++) o[dst + j] += xs[src + j];
  }
  return out;
}

interface ConvGeometry {
  N: number; H: number; W: number; CI: number; KH: number; KW: number; CO: number; OH: number; OW: number;
  sh: number; sw: number; dh: number; dw: number; pt: number; pb: number; pl: number; pr: number;
}

/** The geometry of an NHWC convolution with explicit (or `valid`) padding; undefined for layouts left to the backend. */
function geometry(attrs: Record<string, unknown>, xShape: number[], filterShape: number[], dyShape: number[]): ConvGeometry | undefined {
  const pad = attrs.pad as number | string | number[][];
  if ((attrs.dataFormat ?? 'NHWC') !== 'NHWC' || (typeof pad !== 'object' && typeof pad !== 'number' && pad !== 'valid')) return undefined;
  const pair = (v: unknown): [number, number] => (v === undefined ? [1, 1] : typeof v === 'number' ? [v, v] : (v as [number, number]));
  const [sh, sw] = pair(attrs.strides);
  const [dh, dw] = pair(attrs.dilations);
  const [pt, pb, pl, pr] = typeof pad === 'number' ? [pad, pad, pad, pad] : pad === 'valid' ? [0, 0, 0, 0] : [pad[1][0], pad[1][1], pad[2][0], pad[2][1]];
  const [N, H, W, CI] = xShape;
  const [KH, KW, , CO] = filterShape;
  const [, OH, OW] = dyShape;
  return { N, H, W, CI, KH, KW, CO, OH, OW, sh, sw, dh, dw, pt, pb, pl, pr };
}

const view = (info: tfTypes.TensorInfo, shape: number[]): tfTypes.TensorInfo => ({ dataId: info.dataId, shape, dtype: 'float32' } as tfTypes.TensorInfo);

function callKernel(kernel: tfTypes.KernelFunc | undefined, backend: WasmBackendLike, inputs: Record<string, tfTypes.TensorInfo>, attrs: Record<string, unknown>): tfTypes.TensorInfo {
  return (kernel as tfTypes.KernelFunc)({ inputs, backend: backend as unknown as tfTypes.KernelBackend, attrs: attrs as tfTypes.NamedAttrMap }) as tfTypes.TensorInfo;
}

/**
 * dW[kh, kw, ci, co] = Σ x[n, oh·s + kh·d − p, ow·s + kw·d − p, ci] · dy[n, oh, ow, co]:
 * im2col patches [P, KH·KW·CI] (P = N·OH·OW, a JS copy), then dyᵀ [CO, P] · patches on
 * wasm's matmul (no transposed operand: that path is ~10x slower), then the small
 * [CO, K] result turned to [K, CO].
 */
function conv2dBackpropFilter({ inputs, backend, attrs }: KernelArgs): tfTypes.TensorInfo {
  const { x, dy } = inputs;
  const g = geometry(attrs, x.shape, attrs.filterShape as number[], dy.shape);
  if (!g) throw new Error(`Conv2DBackpropFilter on wasm supports NHWC with explicit padding only (got ${String(attrs.dataFormat)}, ${String(attrs.pad)})`);
  const { N, H, W, CI, KH, KW, CO, OH, OW, sh, sw, dh, dw, pt, pl } = g;
  const P = N * OH * OW, K = KH * KW * CI;
  const xs = backend.readSync(x.dataId);
  const gs = backend.readSync(dy.dataId);
  const patches = backend.makeOutput([1, P, K], 'float32');
  const dyT = backend.makeOutput([1, CO, P], 'float32');
  const cols = backend.typedArrayFromHeap(patches);
  cols.fill(0);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const row = ((n * OH + oh) * OW + ow) * K;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh + kh * dh - pt;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw + kw * dw - pl;
            if (iw < 0 || iw >= W) continue;
            const xBase = ((n * H + ih) * W + iw) * CI;
            const dst = row + (kh * KW + kw) * CI;
            for (let ci = 0; ci < CI; ci++) cols[dst + ci] = xs[xBase + ci];
          }
        }
      }
    }
  }
  const t = backend.typedArrayFromHeap(dyT);
  for (let p = 0; p < P; p++) for (let co = 0; co < CO; co++) t[co * P + p] = gs[p * CO + co];
  const prod = callKernel(batchMatMulKernel, backend, { a: dyT, b: patches }, { transposeA: false, transposeB: false }); // [1, CO, K]
  backend.disposeData(patches.dataId);
  backend.disposeData(dyT.dataId);
  const out = backend.makeOutput([KH, KW, CI, CO], 'float32');
  const ps = backend.readSync(prod.dataId);
  const o = backend.typedArrayFromHeap(out);
  for (let co = 0; co < CO; co++) for (let k = 0; k < K; k++) o[k * CO + co] = ps[co * K + k];
  backend.disposeData(prod.dataId);
  return out;
}

/**
 * dx of a convolution. Stride 1: a forward convolution of dy with the kernel flipped in
 * space and its channels swapped, padded by KH − 1 − p (wasm's own fast Conv2D). Other
 * strides: dy [P, CO] · wᵀ [CO, KH·KW·CI] on wasm's matmul gives every tap's contribution,
 * which JS scatters back onto dx (col2im).
 */
function conv2dBackpropInput(args: KernelArgs): tfTypes.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const g = geometry(attrs, attrs.inputShape as number[], filter.shape, dy.shape);
  if (!g || g.dh !== 1 || g.dw !== 1) return callKernel(wasmConv2dBackpropInput, backend, inputs, attrs);
  const { N, H, W, CI, KH, KW, CO, OH, OW, sh, sw, pt, pb, pl, pr } = g;
  const ws = backend.readSync(filter.dataId);
  const flippedPads = [KH - 1 - pt, KH - 1 - pb, KW - 1 - pl, KW - 1 - pr];
  if (sh === 1 && sw === 1 && flippedPads.every((v) => v >= 0)) {
    const wF = backend.makeOutput([KH, KW, CO, CI], 'float32');
    const f = backend.typedArrayFromHeap(wF);
    for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) for (let ci = 0; ci < CI; ci++) for (let co = 0; co < CO; co++) {
      f[((kh * KW + kw) * CO + co) * CI + ci] = ws[(((KH - 1 - kh) * KW + (KW - 1 - kw)) * CI + ci) * CO + co];
    }
    const [t, b, l, r] = flippedPads;
    const dx = callKernel(conv2dKernel, backend, { x: dy, filter: wF }, { strides: [1, 1], dilations: [1, 1], pad: [[0, 0], [t, b], [l, r], [0, 0]], dataFormat: 'NHWC' });
    backend.disposeData(wF.dataId);
    return dx;
  }
  const P = N * OH * OW, K = KH * KW * CI;
  const w_1CK = backend.makeOutput([1, CO, K], 'float32');
  const wt = backend.typedArrayFromHeap(w_1CK);
  for (let k = 0; k < K; k++) for (let co = 0; co < CO; co++) wt[co * K + k] = ws[k * CO + co];
  const taps = callKernel(batchMatMulKernel, backend, { a: view(dy, [1, P, CO]), b: w_1CK }, { transposeA: false, transposeB: false }); // [1, P, K]
  backend.disposeData(w_1CK.dataId);
  const dx = backend.makeOutput([N, H, W, CI], 'float32');
  // Views are taken after every allocation: a growing wasm heap detaches older ones.
  const tv = backend.typedArrayFromHeap(taps);
  const o = backend.typedArrayFromHeap(dx);
  o.fill(0);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const row = ((n * OH + oh) * OW + ow) * K;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh + kh - pt;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw + kw - pl;
            if (iw < 0 || iw >= W) continue;
            const xBase = ((n * H + ih) * W + iw) * CI;
            const src = row + (kh * KW + kw) * CI;
            for (let ci = 0; ci < CI; ci++) o[xBase + ci] += tv[src + ci];
          }
        }
      }
    }
  }
  backend.disposeData(taps.dataId);
  return dx;
}
