import { adalnBackbone, Engine, maeBackbone, Rng } from '@tessera/core';
import { backboneConformance, describeConformance } from '@tessera/core/testing';

const normal = (F: Engine, shape: number[], rng: Rng) => F.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);
const pns = [1, 2, 3];
const adaln = { depth: 1, embedDim: 16, numHeads: 2, classes: 4, patchNums: pns, vocabEmbedDim: 4 };
// The sequence after the start token: scales 2x2 and 3x3.
const adalnInput = (F: Engine, B: number, rng: Rng) => ({
  inputs: normal(F, [B, 4 + 9, 4], rng),
  labels: F.tensor(Int32Array.from({ length: B }, (_, b) => (b % 2 ? 4 : b % 4)), [B], 'int32'),
  attention: { kind: 'block-causal' as const, blockSizes: pns.map((p) => p * p) },
});

describeConformance('backbone/adaln conformance', backboneConformance({ plugin: adalnBackbone, options: adaln, input: adalnInput, steps: [0, 4, 9] }));

describeConformance('backbone/adaln conformance (HART variant, causal)', backboneConformance({
  plugin: adalnBackbone,
  options: { ...adaln, variant: 'hart', embedDim: 16, numHeads: 2 },
  input: (F, B, rng) => ({ ...adalnInput(F, B, rng), attention: { kind: 'causal' as const } }),
  steps: [0, 5, 8],
  // the residual head's condition (`residualCondition`), not part of forward
  unusedParameters: ['decoder_norm.weight'],
}));

describeConformance('backbone/mae conformance', backboneConformance({
  plugin: maeBackbone,
  options: { imgSize: 8, vaeStride: 2, vaeEmbedDim: 4, encoderEmbedDim: 16, encoderDepth: 1, encoderNumHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2, classNum: 4, bufferSize: 2, attnDropout: 0, projDropout: 0 },
  input: (F, B, rng) => ({
    inputs: normal(F, [B, 16, 4], rng),
    // the null class in the second image, and half the tokens hidden from the encoder
    labels: F.tensor(Int32Array.from({ length: B }, (_, b) => (b % 2 ? 4 : 1)), [B], 'int32'),
    visible: F.tensor(Float32Array.from({ length: B * 16 }, (_, i) => (i % 2)), [B, 16]),
    attention: { kind: 'bidirectional' as const },
  }),
}));
