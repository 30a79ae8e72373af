import { adalnBackbone } from '@tessera/core';
import { describeConformance, directionConformance, pixelTokenizer } from '@tessera/core/testing';
import msvq from '@tessera/tokenizer-msvq';
import plugin from '@tessera/direction-raster';

// A 2x2 token grid: one start token plus 4 raster positions fit the adaln sequence of scales [1, 2] (5 positions).
const backbone = (vocabEmbedDim: number) => ({ plugin: adalnBackbone, options: { depth: 1, embedDim: 16, numHeads: 2, classes: 4, patchNums: [1, 2], vocabEmbedDim } });

describeConformance('direction/raster conformance', directionConformance({
  plugin,
  options: {},
  spaces: [
    {
      name: 'discrete (single-scale msvq)',
      tokenizer: { plugin: msvq, options: { vocabSize: 16, zChannels: 8, ch: 32, chMult: [1, 1], numResBlocks: 1, patchNums: [2], resolution: 4 } },
      backbone: backbone(8),
      classes: 4,
    },
    { name: 'continuous (pixels)', tokenizer: { plugin: pixelTokenizer, options: { resolution: 4, patchSize: 2 } }, backbone: backbone(12), classes: 4 },
  ],
}));
