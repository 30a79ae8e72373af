import { adalnBackbone } from '@tessera/core';
import { describeConformance, directionConformance, pixelTokenizer } from '@tessera/core/testing';
import msvq from '@tessera/tokenizer-msvq';
import plugin from '@tessera/direction-scale';

const pns = [1, 2, 4];
const backbone = (vocabEmbedDim: number) => ({ plugin: adalnBackbone, options: { depth: 1, embedDim: 16, numHeads: 2, classes: 4, patchNums: pns, vocabEmbedDim } });

describeConformance('direction/scale conformance', directionConformance({
  plugin,
  options: {},
  spaces: [{
    name: 'discrete (msvq)',
    tokenizer: { plugin: msvq, options: { vocabSize: 16, zChannels: 8, ch: 32, chMult: [1, 1], numResBlocks: 1, patchNums: pns, resolution: 8 } },
    backbone: backbone(8),
    classes: 4,
  }],
}));

// With a continuous pyramid each scale adds a residual to the whole map: the scales refine it.
describeConformance('direction/scale conformance (continuous pyramid)', directionConformance({
  plugin,
  options: { patchNums: pns },
  spaces: [{ name: 'continuous (pixels)', tokenizer: { plugin: pixelTokenizer, options: { resolution: 8, patchSize: 2 } }, backbone: backbone(12), classes: 4, coverage: 'refine' }],
}));
