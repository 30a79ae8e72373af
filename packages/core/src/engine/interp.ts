/**
 * Resampling as matrices, with PyTorch's `F.interpolate` semantics (align_corners=False,
 * no antialias; bicubic A = -0.75, see spec/var.md §2). Every mode is separable, so an
 * NCHW resize is `R_h · x · R_wᵀ` with one [n_out, n_in] matrix per axis. Engines then
 * need only a matmul, and autodiff and graph export come for free.
 */
import type { InterpolationMode } from './ops';

// Weights are computed in float32 step by step, as ATen's CPU kernels do for float
// inputs, so that token indices chosen downstream (argmin over a codebook) tie-break
// like the official code.
const f = Math.fround;
const A = -0.75;
const cubicInner = (x: number): number => f(f(f(f(f(f(A + 2) * x) - f(A + 3)) * x) * x) + 1); // |x| <= 1
const cubicOuter = (x: number): number => f(f(f(f(f(f(A * x) - f(5 * A)) * x) + f(8 * A)) * x) - f(4 * A)); // 1 < |x| < 2

/** Row-major [nOut, nIn] weights (float64) of a 1-D resize. */
export function resizeMatrix(nIn: number, nOut: number, mode: InterpolationMode): Float64Array {
  const m = new Float64Array(nOut * nIn);
  const scale32 = f(nIn / nOut);
  const clampIdx = (i: number): number => Math.min(Math.max(i, 0), nIn - 1);
  for (let o = 0; o < nOut; o++) {
    const row = o * nIn;
    switch (mode) {
      case 'nearest': {
        // PyTorch's legacy 'nearest': floor(o * scale), computed in float32 like ATen.
        const src = Math.min(Math.floor(f(o * scale32)), nIn - 1);
        m[row + src] = 1;
        break;
      }
      case 'area': {
        const start = Math.floor((o * nIn) / nOut);
        const end = Math.ceil(((o + 1) * nIn) / nOut);
        for (let i = start; i < end; i++) m[row + i] = 1 / (end - start);
        break;
      }
      case 'bilinear': {
        const s = Math.max(0, f(f(scale32 * f(o + 0.5)) - 0.5));
        const i0 = Math.floor(s);
        const i1 = Math.min(i0 + 1, nIn - 1);
        const lambda = f(s - i0);
        m[row + clampIdx(i0)] += f(1 - lambda);
        m[row + i1] += lambda;
        break;
      }
      case 'bicubic': {
        const s = f(f(scale32 * f(o + 0.5)) - 0.5);
        const i = Math.floor(s);
        const t = f(s - i);
        const w = [cubicOuter(f(t + 1)), cubicInner(t), cubicInner(f(1 - t)), cubicOuter(f(f(1 - t) + 1))];
        for (let k = 0; k < 4; k++) m[row + clampIdx(i - 1 + k)] += w[k];
        break;
      }
    }
  }
  return m;
}

/** The same matrix rounded to float32, as engines consume it. */
export function resizeMatrix32(nIn: number, nOut: number, mode: InterpolationMode): Float32Array {
  return Float32Array.from(resizeMatrix(nIn, nOut, mode));
}
