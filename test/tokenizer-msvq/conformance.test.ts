import { describeConformance, tokenizerConformance } from '@tessera/core/testing';
import plugin from '@tessera/tokenizer-msvq';

const tiny = { vocabSize: 16, zChannels: 8, ch: 32, chMult: [1, 1], numResBlocks: 1, usingSelfAttention: false, usingMidSelfAttention: false, patchNums: [1, 2, 4], resolution: 8 };

describeConformance('tokenizer/msvq conformance', tokenizerConformance({ plugin, options: tiny }));

describeConformance('tokenizer/msvq conformance (HART hybrid tokens)', tokenizerConformance({ plugin, options: { ...tiny, hybrid: true } }));
