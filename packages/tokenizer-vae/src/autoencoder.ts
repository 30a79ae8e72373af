/**
 * The KL autoencoder of MAR and FAR (spec/mar.md §2.2–2.4): LDM's `Encoder`, `Decoder`,
 * `DiagonalGaussianDistribution` and `AutoencoderKL`, following LTH14/mar
 * `models/vae.py`. The encoder halves the resolution at every level but the last
 * (stride 2^(M−1) for M channel multipliers) and ends in 2·embedDim channels: the
 * posterior mean and log-variance. The decoder mirrors it with one more ResnetBlock per
 * level. Where attention sits is decided by the nominal `resolution`, never by the size
 * of the image actually fed (spec/mar.md §9.9). Parameter keys are the official ones, so
 * `kl16.ckpt` loads 1:1.
 */
import { Conv2d, GroupNorm, Module, TesseraError } from '@tessera/core';
import type { DrawSource, Engine, Tensor } from '@tessera/core';
import { AttnBlock, Downsample, normalize, ResnetBlock, Upsample } from './blocks';

/** Constructor arguments of `AutoencoderKL` with the inner Encoder/Decoder settings made explicit. */
export interface AutoencoderConfig {
  /** Latent channels E (`embed_dim`, `z_channels`). */
  embedDim: number;
  /** Width of the first level (`ch`). */
  baseChannels: number;
  /** Width multiplier per level (`ch_mult`); M levels give a spatial stride of 2^(M−1). */
  channelMultipliers: number[];
  /** ResnetBlocks per encoder level (`num_res_blocks`); decoder levels get one more. */
  resBlocksPerLevel: number;
  /** Nominal resolutions at which encoder levels attend (official `(16,)`). */
  encoderAttentionResolutions: number[];
  /** Same for the decoder (official `()`). */
  decoderAttentionResolutions: number[];
  /** Nominal image size that places the attention blocks (official 256). */
  resolution: number;
  /** `use_variational`: quant_conv predicts mean and log-variance (else the mean only). */
  variational: boolean;
  /** Image channels in and out (3). */
  imageChannels: number;
}

/** A `{block, attn}` pair of lists at one mid/level position, as `down.i` / `up.i`. */
class Level extends Module {
  readonly block: ResnetBlock[];
  readonly attn: AttnBlock[];

  constructor(F: Engine, blocks: ResnetBlock[], attn: AttnBlock[]) {
    super(F);
    this.block = this.list('block', blocks);
    this.attn = this.list('attn', attn);
  }

  /** Each block, followed by its attention block when the level has them. */
  runBlocks(h_BChw: Tensor): Tensor {
    let h = h_BChw;
    this.block.forEach((b, j) => {
      h = b.forward(h);
      if (this.attn.length > 0) h = this.attn[j].forward(h);
    });
    return h;
  }
}

class DownLevel extends Level {
  readonly downsample: Downsample | undefined;
  constructor(F: Engine, blocks: ResnetBlock[], attn: AttnBlock[], downsampleChannels: number | undefined) {
    super(F, blocks, attn);
    this.downsample = downsampleChannels === undefined ? undefined : this.child('downsample', new Downsample(F, downsampleChannels));
  }
}

class UpLevel extends Level {
  readonly upsample: Upsample | undefined;
  constructor(F: Engine, blocks: ResnetBlock[], attn: AttnBlock[], upsampleChannels: number | undefined) {
    super(F, blocks, attn);
    this.upsample = upsampleChannels === undefined ? undefined : this.child('upsample', new Upsample(F, upsampleChannels));
  }
}

/** `mid.block_1`, `mid.attn_1`, `mid.block_2` at the lowest resolution. */
class Middle extends Module {
  readonly block1: ResnetBlock;
  readonly attn1: AttnBlock;
  readonly block2: ResnetBlock;
  constructor(F: Engine, channels: number) {
    super(F);
    this.block1 = this.child('block_1', new ResnetBlock(F, channels, channels));
    this.attn1 = this.child('attn_1', new AttnBlock(F, channels));
    this.block2 = this.child('block_2', new ResnetBlock(F, channels, channels));
  }
  forward(h_BChw: Tensor): Tensor {
    return this.block2.forward(this.attn1.forward(this.block1.forward(h_BChw)));
  }
}

export class Encoder extends Module {
  readonly convIn: Conv2d;
  readonly down: DownLevel[];
  readonly mid: Middle;
  readonly normOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(F: Engine, cfg: AutoencoderConfig) {
    super(F);
    const { baseChannels: ch, channelMultipliers: mult } = cfg;
    const M = mult.length;
    this.convIn = this.child('conv_in', new Conv2d(F, cfg.imageChannels, ch, 3, { padding: 1 }));
    const inMult = [1, ...mult];
    let res = cfg.resolution;
    let blockIn = ch;
    const levels: DownLevel[] = [];
    for (let i = 0; i < M; i++) {
      blockIn = ch * inMult[i];
      const blockOut = ch * mult[i];
      const blocks: ResnetBlock[] = [];
      const attn: AttnBlock[] = [];
      for (let j = 0; j < cfg.resBlocksPerLevel; j++) {
        blocks.push(new ResnetBlock(F, blockIn, blockOut));
        blockIn = blockOut;
        if (cfg.encoderAttentionResolutions.includes(res)) attn.push(new AttnBlock(F, blockIn));
      }
      const last = i === M - 1;
      levels.push(new DownLevel(F, blocks, attn, last ? undefined : blockIn));
      if (!last) res = Math.floor(res / 2);
    }
    this.down = this.list('down', levels);
    this.mid = this.child('mid', new Middle(F, blockIn));
    this.normOut = this.child('norm_out', normalize(F, blockIn));
    // double_z: mean and log-variance channels
    this.convOut = this.child('conv_out', new Conv2d(F, blockIn, 2 * cfg.embedDim, 3, { padding: 1 }));
  }

  /** Image [B, 3, H, W] -> [B, 2E, H/s, W/s]. */
  forward(x_B3HW: Tensor): Tensor {
    let h = this.convIn.forward(x_B3HW);
    for (const level of this.down) {
      h = level.runBlocks(h);
      if (level.downsample) h = level.downsample.forward(h);
    }
    h = this.mid.forward(h);
    return this.convOut.forward(this.F.silu(this.normOut.forward(h)));
  }
}

export class Decoder extends Module {
  readonly convIn: Conv2d;
  readonly mid: Middle;
  readonly up: UpLevel[];
  readonly normOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(F: Engine, cfg: AutoencoderConfig) {
    super(F);
    const { baseChannels: ch, channelMultipliers: mult } = cfg;
    const M = mult.length;
    let blockIn = ch * mult[M - 1];
    let res = Math.floor(cfg.resolution / 2 ** (M - 1));
    this.convIn = this.child('conv_in', new Conv2d(F, cfg.embedDim, blockIn, 3, { padding: 1 }));
    this.mid = this.child('mid', new Middle(F, blockIn));
    const levels: UpLevel[] = new Array(M);
    for (let i = M - 1; i >= 0; i--) {
      const blockOut = ch * mult[i];
      const blocks: ResnetBlock[] = [];
      const attn: AttnBlock[] = [];
      for (let j = 0; j < cfg.resBlocksPerLevel + 1; j++) {
        blocks.push(new ResnetBlock(F, blockIn, blockOut));
        blockIn = blockOut;
        if (cfg.decoderAttentionResolutions.includes(res)) attn.push(new AttnBlock(F, blockIn));
      }
      levels[i] = new UpLevel(F, blocks, attn, i === 0 ? undefined : blockIn);
      if (i !== 0) res *= 2;
    }
    // Indexed by level: `up.0` is the full-resolution level although it runs last.
    this.up = this.list('up', levels);
    this.normOut = this.child('norm_out', normalize(F, blockIn));
    this.convOut = this.child('conv_out', new Conv2d(F, blockIn, cfg.imageChannels, 3, { padding: 1 }));
  }

  /** Latent [B, E, h, w] -> image [B, 3, h·s, w·s] (unclamped). */
  forward(z_BEhw: Tensor): Tensor {
    let h = this.mid.forward(this.convIn.forward(z_BEhw));
    for (let i = this.up.length - 1; i >= 0; i--) {
      const level = this.up[i];
      h = level.runBlocks(h);
      if (level.upsample) h = level.upsample.forward(h);
    }
    return this.convOut.forward(this.F.silu(this.normOut.forward(h)));
  }
}

/**
 * The diagonal Gaussian posterior built from quant_conv's output: mean = first E
 * channels, log-variance = last E clamped to [−30, 20]. Tensors belong to the caller's
 * tidy scope.
 */
export class DiagonalGaussian {
  readonly mean: Tensor;
  readonly logvar: Tensor;
  readonly std: Tensor;
  readonly variance: Tensor;

  constructor(private readonly F: Engine, readonly moments_B2Ehw: Tensor) {
    const E = moments_B2Ehw.shape[1] / 2;
    const [mean, logvarRaw] = F.split(moments_B2Ehw, [E, E], 1);
    this.mean = mean;
    this.logvar = F.clip(logvarRaw, -30, 20);
    this.std = F.exp(F.mul(this.logvar, 0.5));
    this.variance = F.exp(this.logvar);
  }

  /** mean + std · n with one standard-normal draw of the mean's shape (torch.randn). */
  sample(draws: DrawSource): Tensor {
    const shape = this.mean.shape;
    const noise = this.F.tensor(draws.normal(shape, 'vae posterior sample'), shape);
    return this.F.add(this.mean, this.F.mul(this.std, noise));
  }

  mode(): Tensor {
    return this.mean;
  }

  /** KL(q ‖ N(0, I)) per image, summed over C, h, w: [B]. */
  kl(): Tensor {
    const F = this.F;
    const terms = F.sub(F.sub(F.add(F.square(this.mean), this.variance), 1), this.logvar);
    return F.mul(F.sum(terms, [1, 2, 3]), 0.5);
  }
}

export class AutoencoderKL extends Module {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quantConv: Conv2d;
  readonly postQuantConv: Conv2d;

  constructor(F: Engine, readonly config: AutoencoderConfig) {
    super(F);
    validateConfig(config);
    const E = config.embedDim;
    this.encoder = this.child('encoder', new Encoder(F, config));
    this.decoder = this.child('decoder', new Decoder(F, config));
    this.quantConv = this.child('quant_conv', new Conv2d(F, 2 * E, config.variational ? 2 * E : E, 1));
    this.postQuantConv = this.child('post_quant_conv', new Conv2d(F, E, E, 1));
  }

  /** Spatial stride between image and latent grid. */
  get stride(): number {
    return 2 ** (this.config.channelMultipliers.length - 1);
  }

  /** Image [B, 3, H, W] in [−1, 1] -> posterior over latents [B, E, H/s, W/s]. */
  encode(x_B3HW: Tensor): DiagonalGaussian {
    const F = this.F;
    let moments = this.quantConv.forward(this.encoder.forward(x_B3HW));
    // Without the variational head the official code appends log-variance 1.
    if (!this.config.variational) moments = F.concat([moments, F.ones(moments.shape)], 1);
    return new DiagonalGaussian(F, moments);
  }

  /** Latent [B, E, h, w] (unscaled) -> image [B, 3, h·s, w·s]. */
  decode(z_BEhw: Tensor): Tensor {
    return this.decoder.forward(this.postQuantConv.forward(z_BEhw));
  }
}

function validateConfig(cfg: AutoencoderConfig): void {
  const bad = (field: string, value: unknown, expected: string): never => {
    throw new TesseraError('CONFIG_INVALID', `\`${field}\` is ${JSON.stringify(value)}; expected ${expected}`, { subject: 'tokenizer/vae', data: { field, value } });
  };
  if (cfg.channelMultipliers.length < 1) bad('channelMultipliers', cfg.channelMultipliers, 'at least one level');
  if (cfg.resBlocksPerLevel < 1) bad('resBlocksPerLevel', cfg.resBlocksPerLevel, 'a positive integer');
  if (cfg.embedDim < 1) bad('embedDim', cfg.embedDim, 'a positive integer');
}
