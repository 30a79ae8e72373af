/**
 * Pillow's 8-bit resampling (`Image.resize` with BOX or BICUBIC), reproduced so that data
 * preprocessing matches the official pipelines pixel for pixel: separable convolution,
 * horizontal pass first, filter support widened by the scale when shrinking, coefficients
 * normalised then quantised to fixed point with 22 fractional bits, and rounding in the
 * accumulator (Pillow's libImaging/Resample.c behaviour).
 */
export type PilFilter = 'box' | 'bicubic' | 'bilinear';

const PRECISION_BITS = 32 - 8 - 2;

const FILTERS: Record<PilFilter, { support: number; fn(x: number): number }> = {
  box: { support: 0.5, fn: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: { support: 1, fn: (x) => { const a = Math.abs(x); return a < 1 ? 1 - a : 0; } },
  bicubic: {
    support: 2,
    fn: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
};

interface Coefficients {
  bounds: Int32Array; // [xmin, count] per output index
  weights: Int32Array; // ksize per output index, fixed point
  ksize: number;
}

function precompute(inSize: number, outSize: number, filter: PilFilter): Coefficients {
  const { support: baseSupport, fn } = FILTERS[filter];
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = baseSupport * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const count = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    k.fill(0);
    for (let x = 0; x < count; x++) {
      k[x] = fn((x + xmin - center + 0.5) * ss);
      total += k[x];
    }
    for (let x = 0; x < count; x++) {
      const w = total !== 0 ? k[x] / total : k[x];
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = count;
  }
  return { bounds, weights, ksize };
}

const clip8 = (acc: number): number => {
  const v = Math.floor(acc / (1 << PRECISION_BITS));
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/** Resizes 8-bit HWC pixels (any channel count) to [outW, outH] like Pillow. */
export function pilResize(src: Uint8Array, width: number, height: number, channels: number, outW: number, outH: number, filter: PilFilter): Uint8Array {
  let data = src, w = width;
  if (outW !== width) {
    const c = precompute(width, outW, filter);
    const out = new Uint8Array(outW * height * channels);
    for (let y = 0; y < height; y++) {
      for (let xx = 0; xx < outW; xx++) {
        const xmin = c.bounds[xx * 2], count = c.bounds[xx * 2 + 1];
        for (let ch = 0; ch < channels; ch++) {
          let acc = 1 << (PRECISION_BITS - 1);
          for (let x = 0; x < count; x++) acc += data[(y * w + xmin + x) * channels + ch] * c.weights[xx * c.ksize + x];
          out[(y * outW + xx) * channels + ch] = clip8(acc);
        }
      }
    }
    data = out;
    w = outW;
  }
  if (outH !== height) {
    const c = precompute(height, outH, filter);
    const out = new Uint8Array(w * outH * channels);
    for (let yy = 0; yy < outH; yy++) {
      const ymin = c.bounds[yy * 2], count = c.bounds[yy * 2 + 1];
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < channels; ch++) {
          let acc = 1 << (PRECISION_BITS - 1);
          for (let y = 0; y < count; y++) acc += data[((ymin + y) * w + x) * channels + ch] * c.weights[yy * c.ksize + y];
          out[(yy * w + x) * channels + ch] = clip8(acc);
        }
      }
    }
    data = out;
  }
  return data === src ? Uint8Array.from(src) : data;
}
