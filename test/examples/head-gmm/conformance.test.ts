import { Engine, Rng } from '@tessera/core';
import { describeConformance, headConformance } from '@tessera/core/testing';
import { loadGmm } from './load';

const plugin = loadGmm();
const tokenDim = 3, zChannels = 8;
const normal = (F: Engine, rows: number, cols: number, rng: Rng) => F.tensor(Float32Array.from({ length: rows * cols }, () => rng.normal()), [rows, cols]);

describeConformance('head/gmm conformance', headConformance({
  plugin,
  options: { tokenDim, zChannels, width: 16, components: 4, cfgCandidates: 4 },
  input: (F, rows, rng) => ({ z: normal(F, rows, zChannels, rng) }),
  target: (F, rows, rng) => ({ values: normal(F, rows, tokenDim, rng) }),
  sampleOptions: { temperature: 0.8 },
}));

describeConformance('head/gmm conformance (level embedding)', headConformance({
  plugin,
  options: { tokenDim, zChannels, width: 16, components: 2, levels: 5 },
  input: (F, rows, rng) => ({ z: normal(F, rows, zChannels, rng), level: F.tensor(Int32Array.from({ length: rows }, () => rng.integer(0, 5)), [rows], 'int32') }),
  target: (F, rows, rng) => ({ values: normal(F, rows, tokenDim, rng) }),
}));
