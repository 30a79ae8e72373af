/** Initialisers with PyTorch's defaults and the schemes the official models use. */
import type { Initializer } from './module';
import { numel } from '../tensor/host';

export const zeros: Initializer = (shape) => new Float32Array(numel(shape));
export const ones: Initializer = (shape) => new Float32Array(numel(shape)).fill(1);
export const constant = (v: number): Initializer => (shape) => new Float32Array(numel(shape)).fill(v);

export const normal = (std: number, mean = 0): Initializer => (shape, rng) => {
  const out = new Float32Array(numel(shape));
  for (let i = 0; i < out.length; i++) out[i] = mean + std * rng.normal();
  return out;
};

/** timm's trunc_normal_(std): normal truncated at ±2 (absolute, as timm does). */
export const truncNormal = (std: number, a = -2, b = 2): Initializer => (shape, rng) => {
  const out = new Float32Array(numel(shape));
  for (let i = 0; i < out.length; i++) {
    let v: number;
    do v = std * rng.normal(); while (v < a || v > b);
    out[i] = v;
  }
  return out;
};

export const uniform = (low: number, high: number): Initializer => (shape, rng) => {
  const out = new Float32Array(numel(shape));
  for (let i = 0; i < out.length; i++) out[i] = low + (high - low) * rng.uniform();
  return out;
};

/** fan_in of a [out, in, ...kernel] weight, as torch computes it. */
export function fanIn(shape: readonly number[]): number {
  return shape.length < 2 ? shape[0] : shape.slice(1).reduce((a, b) => a * b, 1);
}

/** torch.nn.Linear / Conv2d default: kaiming_uniform(a=√5) = U(±1/√fan_in). */
export const torchDefaultWeight: Initializer = (shape, rng) => {
  const bound = 1 / Math.sqrt(fanIn(shape));
  return uniform(-bound, bound)(shape, rng);
};

/** torch default bias for a layer whose weight has fan_in `inFeatures`. */
export const torchDefaultBias = (inFeatures: number): Initializer => uniform(-1 / Math.sqrt(inFeatures), 1 / Math.sqrt(inFeatures));

export const xavierUniform: Initializer = (shape, rng) => {
  const fanOut = shape[0] * (shape.length > 2 ? shape.slice(2).reduce((a, b) => a * b, 1) : 1);
  const bound = Math.sqrt(6 / (fanIn(shape) + fanOut));
  return uniform(-bound, bound)(shape, rng);
};
