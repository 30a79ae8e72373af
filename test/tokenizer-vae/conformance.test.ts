import { describeConformance, tokenizerConformance } from '@tessera/core/testing';
import plugin from '@tessera/tokenizer-vae';

describeConformance('tokenizer/vae conformance', tokenizerConformance({
  plugin,
  options: { baseChannels: 32, channelMultipliers: [1, 2], resBlocksPerLevel: 1, resolution: 16, embedDim: 4, encoderAttentionResolutions: [8] },
}));
