/**
 * Gradient kernels the tfjs wasm backend lacks (it ships forward kernels only for
 * these): `UnsortedSegmentSum` (the gradient of gather, hence of every embedding) and
 * `Conv2DBackpropFilter` (the weight gradient of every convolution). They run in JS on
 * the backend's heap; everything else in a training step stays on wasm's SIMD kernels.
 */
import type * as tfTypes from '@tensorflow/tfjs';

interface WasmBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: string): tfTypes.TensorInfo;
  typedArrayFromHeap(info: tfTypes.TensorInfo): Float32Array | Int32Array;
}

let registered = false;

export function registerWasmGradientKernels(tf: typeof tfTypes): void {
  if (registered) return;
  registered = true;
  if (!tf.getKernel('UnsortedSegmentSum', 'wasm')) {
    tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSum as unknown as tfTypes.KernelFunc });
  }
  if (!tf.getKernel('Conv2DBackpropFilter', 'wasm')) {
    tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilter as unknown as tfTypes.KernelFunc });
  }
}

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

/** dW[kh, kw, ci, co] = Σ x[n, oh*s + kh*d - p, ow*s + kw*d - p, ci] · dy[n, oh, ow, co] (NHWC). */
function conv2dBackpropFilter({ inputs, backend, attrs }: KernelArgs): tfTypes.TensorInfo {
  const { x, dy } = inputs;
  const filterShape = attrs.filterShape as [number, number, number, number];
  const strides = attrs.strides as number | [number, number];
  const dilations = (attrs.dilations ?? 1) as number | [number, number];
  const pad = attrs.pad as number | string | number[][];
  const dataFormat = (attrs.dataFormat ?? 'NHWC') as string;
  if (dataFormat !== 'NHWC' || (typeof pad !== 'object' && typeof pad !== 'number' && pad !== 'valid')) {
    throw new Error(`Conv2DBackpropFilter on wasm supports NHWC with explicit padding only (got ${dataFormat}, ${String(pad)})`);
  }
  const [KH, KW, CI, CO] = filterShape;
  const [N, H, W] = x.shape;
  const [, OH, OW] = dy.shape;
  const [sh, sw] = typeof strides === 'number' ? [strides, strides] : strides;
  const [dh, dw] = typeof dilations === 'number' ? [dilations, dilations] : dilations;
  const [pt, pl] = typeof pad === 'number' ? [pad, pad] : pad === 'valid' ? [0, 0] : [pad[1][0], pad[2][0]];
  const xs = backend.readSync(x.dataId);
  const g = backend.readSync(dy.dataId);
  const out = backend.makeOutput([KH, KW, CI, CO], 'float32');
  const o = backend.typedArrayFromHeap(out);
  o.fill(0);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let kh = 0; kh < KH; kh++) {
        const ih = oh * sh + kh * dh - pt;
        if (ih < 0 || ih >= H) continue;
        for (let ow = 0; ow < OW; ow++) {
          const gBase = ((n * OH + oh) * OW + ow) * CO;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw + kw * dw - pl;
            if (iw < 0 || iw >= W) continue;
            const xBase = ((n * H + ih) * W + iw) * CI;
            const oBase = (kh * KW + kw) * CI * CO;
            for (let ci = 0; ci < CI; ci++) {
              const xv = xs[xBase + ci];
              if (xv === 0) continue;
              const row = oBase + ci * CO;
              for (let co = 0; co < CO; co++) o[row + co] += xv * g[gBase + co];
            }
          }
        }
      }
    }
  }
  return out;
}
