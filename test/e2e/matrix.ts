/**
 * The mix-and-match matrix: tiny configs (8 px images) for every combination of
 * {vae, msvq} x {raster, masked, scale, frequency} x {categorical, diffusion}, each with
 * the backbone that fits its direction (adaln for raster and scale, mae for masked and
 * frequency), and what each combination is expected to do. Shared by the e2e test and
 * by whoever regenerates the README table.
 */
export type TokenizerName = 'vae' | 'msvq';
export type DirectionName = 'raster' | 'masked' | 'scale' | 'frequency';
export type HeadName = 'categorical' | 'diffusion';

type Json = Record<string, unknown>;

const VAE_CHANNELS = 4;
const MSVQ_CHANNELS = 8;

function tokenizer(name: TokenizerName, direction: DirectionName): Json {
  if (name === 'vae') {
    return { use: 'vae', options: { embedDim: VAE_CHANNELS, baseChannels: 32, channelMultipliers: [1, 1], resBlocksPerLevel: 1, encoderAttentionResolutions: [], resolution: 8 } };
  }
  // next-scale prediction needs the multi-scale quantizer; the other orders read one 4x4 token map
  const patchNums = direction === 'scale' ? [1, 2, 4] : [4];
  return { use: 'msvq', options: { vocabSize: 16, zChannels: MSVQ_CHANNELS, ch: 32, chMult: [1, 1], numResBlocks: 1, patchNums, resolution: 8, usingSelfAttention: false, usingMidSelfAttention: false } };
}

const usesMae = (d: DirectionName): boolean => d === 'masked' || d === 'frequency';

function direction(name: DirectionName, tok: TokenizerName): Json {
  if (name === 'masked') return { use: 'masked', options: { numIterations: 2 } };
  if (name === 'frequency') return { use: 'frequency', options: { levels: [0, 2, 4] } };
  if (name === 'scale' && tok === 'vae') return { use: 'scale', options: { patchNums: [1, 2, 4] } };
  return { use: name, options: {} };
}

function head(name: HeadName, d: DirectionName, tok: TokenizerName): Json {
  const width = usesMae(d) ? 16 : 32;
  if (name === 'categorical') return { use: 'categorical', options: { width, vocab: 16, adaLN: !usesMae(d) } };
  return {
    use: 'diffusion',
    options: {
      tokenDim: tok === 'vae' ? VAE_CHANNELS : MSVQ_CHANNELS, zChannels: width, width: 16, depth: 1, numSamplingSteps: '2', batchMultiplier: 1,
      levelConditioning: d === 'frequency', alwaysGuided: d === 'frequency',
    },
  };
}

function backbone(d: DirectionName, tok: TokenizerName): Json {
  const channels = tok === 'vae' ? VAE_CHANNELS : MSVQ_CHANNELS;
  if (usesMae(d)) {
    return {
      use: 'mae',
      options: {
        imgSize: 8, vaeStride: 2, vaeEmbedDim: channels, encoderEmbedDim: 16, encoderDepth: 1, encoderNumHeads: 2,
        decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2, classNum: 10, bufferSize: 2, attnDropout: 0, projDropout: 0,
      },
    };
  }
  const patchNums = d === 'scale' ? [1, 2, 4] : [1, 4];
  return { use: 'adaln', options: { depth: 1, embedDim: 32, numHeads: 2, classes: 10, patchNums, vocabEmbedDim: channels } };
}

export function matrixConfig(tok: TokenizerName, d: DirectionName, h: HeadName): Json {
  return { name: `${tok}-${d}-${h}`, tokenizer: tokenizer(tok, d), direction: direction(d, tok), head: head(h, d, tok), backbone: backbone(d, tok) };
}

export const TOKENIZERS: TokenizerName[] = ['vae', 'msvq'];
export const DIRECTIONS: DirectionName[] = ['raster', 'masked', 'scale', 'frequency'];
export const HEADS: HeadName[] = ['categorical', 'diffusion'];

/** What each combination does: `trains`, or refused at config load by `plugin` for lack of `missing` from `other`. */
export type Expectation = { trains: true } | { trains: false; plugin: string; other: string; missing: string };

export function expectation(tok: TokenizerName, d: DirectionName, h: HeadName): Expectation {
  if (tok === 'msvq' && d === 'frequency') return { trains: false, plugin: 'direction/frequency', other: 'tokenizer/msvq', missing: 'continuous' };
  if (tok === 'vae' && h === 'categorical') return { trains: false, plugin: 'head/categorical', other: 'tokenizer/vae', missing: 'discrete' };
  if (tok === 'msvq' && h === 'diffusion') return { trains: false, plugin: 'head/diffusion', other: 'tokenizer/msvq', missing: 'continuous' };
  return { trains: true };
}
