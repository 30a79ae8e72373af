import { maeBackbone } from '@tessera/core';
import { describeConformance, directionConformance, pixelTokenizer } from '@tessera/core/testing';
import plugin from '@tessera/direction-masked';

const mae = { imgSize: 8, vaeStride: 2, vaeEmbedDim: 12, encoderEmbedDim: 16, encoderDepth: 1, encoderNumHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2, classNum: 4, bufferSize: 2, attnDropout: 0, projDropout: 0 };

describeConformance('direction/masked conformance', directionConformance({
  plugin,
  options: { numIterations: 4 },
  spaces: [{ name: 'continuous (pixels)', tokenizer: { plugin: pixelTokenizer, options: { resolution: 8, patchSize: 2 } }, backbone: { plugin: maeBackbone, options: mae }, classes: 4 }],
}));
