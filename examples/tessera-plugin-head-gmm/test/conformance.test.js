// The conformance kit of @tessera/core on a tiny GMM head, on every engine core has.
const { describeConformance, headConformance } = require('@tessera/core/testing');
const { plugin } = require('..');

const tokenDim = 3, zChannels = 8;
const normal = (F, rows, cols, rng) => F.tensor(Float32Array.from({ length: rows * cols }, () => rng.normal()), [rows, cols]);

describeConformance('head/gmm conformance', headConformance({
  plugin,
  options: { tokenDim, zChannels, width: 16, components: 4, cfgCandidates: 4 },
  input: (F, rows, rng) => ({ z: normal(F, rows, zChannels, rng) }),
  target: (F, rows, rng) => ({ values: normal(F, rows, tokenDim, rng) }),
  sampleOptions: { temperature: 0.8 },
}));
