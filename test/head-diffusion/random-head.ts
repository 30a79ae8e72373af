/** A tiny diffusion head with small random weights, shared by the head-diffusion tests. */
import { Engine, HostTensor, Rng } from '@tessera/core';
import { DiffusionHead, diffusionHeadOptionsSchema, DiffusionHeadOptionsInput } from '@tessera/head-diffusion';

/** Token channels and condition channels of `tiny`. */
export const C = 4;
export const Z = 8;
export const tiny: DiffusionHeadOptionsInput = { tokenDim: C, zChannels: Z, width: 16, depth: 1, numSamplingSteps: '3', batchMultiplier: 1 };

/** `tiny` with `extra`, every weight 0.2·N(0, 1) (the official init zeroes the output layers, which would make CFG a no-op). */
export function randomHead(engine: Engine, extra: DiffusionHeadOptionsInput = {}, seed = 1): DiffusionHead {
  const head = new DiffusionHead(engine, diffusionHeadOptionsSchema.parse({ ...tiny, ...extra }));
  const rng = new Rng(seed);
  const weights = new Map<string, HostTensor>();
  for (const [key, p] of head.module.namedParameters()) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    weights.set(key, { dtype: 'float32', shape: [...p.shape], data: Float32Array.from({ length: n }, () => 0.2 * rng.normal()) });
  }
  head.module.loadStateDict(weights);
  return head;
}
