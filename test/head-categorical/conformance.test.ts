import { describeConformance, headConformance } from '@tessera/core/testing';
import { Rng } from '@tessera/core';
import plugin from '@tessera/head-categorical';

const width = 8, vocab = 16;

describeConformance('head/categorical conformance', headConformance({
  plugin,
  options: { width, vocab },
  input: (F, rows, rng) => ({
    z: F.tensor(Float32Array.from({ length: rows * width }, () => rng.normal()), [rows, width]),
    cond: F.tensor(Float32Array.from({ length: rows * width }, () => rng.normal()), [rows, width]),
  }),
  target: (F, rows, rng: Rng) => ({ indices: F.tensor(Int32Array.from({ length: rows }, () => rng.integer(0, vocab)), [rows], 'int32') }),
  sampleOptions: { topK: 4 },
}));
