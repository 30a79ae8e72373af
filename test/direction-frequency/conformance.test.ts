import { maeBackbone } from '@tessera/core';
import { describeConformance, directionConformance, pixelTokenizer } from '@tessera/core/testing';
import plugin from '@tessera/direction-frequency';

const mae = { imgSize: 8, vaeStride: 2, vaeEmbedDim: 12, encoderEmbedDim: 16, encoderDepth: 1, encoderNumHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2, classNum: 4, bufferSize: 2, attnDropout: 0, projDropout: 0 };
// Every step re-predicts the whole latent from a low-passed version, so the steps refine rather than partition the tokens.
const space = { name: 'continuous (pixels)', tokenizer: { plugin: pixelTokenizer, options: { resolution: 8, patchSize: 2 } }, backbone: { plugin: maeBackbone, options: mae }, classes: 4, coverage: 'refine' as const };

describeConformance('direction/frequency conformance', directionConformance({ plugin, options: { levels: [0, 1, 2, 4] }, spaces: [space] }));

describeConformance('direction/frequency conformance (masking)', directionConformance({ plugin, options: { masking: true, levels: [0, 2, 3, 4] }, spaces: [space] }));
