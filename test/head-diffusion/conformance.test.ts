import { describeConformance, headConformance } from '@tessera/core/testing';
import { Engine, Rng } from '@tessera/core';
import plugin from '@tessera/head-diffusion';

const tokenDim = 4, zChannels = 8;
const normal = (F: Engine, rows: number, cols: number, rng: Rng) => F.tensor(Float32Array.from({ length: rows * cols }, () => rng.normal()), [rows, cols]);

describeConformance('head/diffusion conformance', headConformance({
  plugin,
  options: { tokenDim, zChannels, width: 16, depth: 2, numSamplingSteps: '4', batchMultiplier: 2 },
  input: (F, rows, rng) => ({ z: normal(F, rows, zChannels, rng) }),
  target: (F, rows, rng) => ({ values: normal(F, rows, tokenDim, rng) }),
  sampleOptions: { temperature: 0.9 },
}));

describeConformance('head/diffusion conformance (FAR level conditioning)', headConformance({
  plugin,
  options: { tokenDim, zChannels, width: 16, depth: 1, numSamplingSteps: '3', levelConditioning: true },
  input: (F, rows, rng) => ({ z: normal(F, rows, zChannels, rng), level: F.tensor(new Int32Array(rows).fill(rng.integer(0, 16)), [rows], 'int32') }),
  target: (F, rows, rng) => ({ values: normal(F, rows, tokenDim, rng) }),
}));

describeConformance('head/diffusion conformance (HART residual mode)', headConformance({
  plugin,
  options: { tokenDim, zChannels, width: 16, depth: 1, mode: 'residual' },
  input: (F, rows, rng) => ({ z: normal(F, rows, zChannels, rng) }),
  target: (F, rows, rng) => ({ values: normal(F, rows, tokenDim, rng) }),
}));
