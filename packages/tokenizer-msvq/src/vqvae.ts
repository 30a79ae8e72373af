/**
 * VAR's VQVAE (spec/var.md §4; official `models/vqvae.py` and `models/basic_vae.py`), which
 * HART's `HARTAutoEncoder` reuses unchanged (spec/hart.md §3.1–3.2). The encoder halves
 * the resolution at every level but the last (factor 2^(len(ch_mult) − 1)), with self-
 * attention only at the deepest level and in the middle; the decoder mirrors it with one
 * more ResnetBlock per level. `quant_conv` / `post_quant_conv` are Cvae→Cvae convs around
 * the quantizer. The official VQVAE hard-codes ch_mult (1, 1, 2, 2, 4) and two ResnetBlocks
 * per level; here both are options, as the fixtures' reduced configurations need.
 */
import { Conv2d, Module, TesseraError } from '@tessera/core';
import type { Engine, GroupNorm, HostTensor, LoadOptions, Tensor } from '@tessera/core';
import { AttnBlock, Downsample2x, normalize, ResnetBlock, Upsample2x } from './blocks';
import { fitUsageBuffer, QuantizerConfig, ResidualQuantizer } from './quantizer';

export interface ConvNetConfig {
  ch: number;
  chMult: number[];
  numResBlocks: number;
  zChannels: number;
  /** Image channels (3). */
  inChannels: number;
  /** Attention after each ResnetBlock of the deepest level. */
  usingSelfAttention: boolean;
  /** Attention in the middle block. */
  usingMidSelfAttention: boolean;
}

/** `mid`: ResnetBlock → AttnBlock (optional) → ResnetBlock at constant width. */
class MidBlock extends Module {
  readonly block1: ResnetBlock;
  readonly attn1: AttnBlock | undefined;
  readonly block2: ResnetBlock;

  constructor(F: Engine, channels: number, attention: boolean) {
    super(F);
    this.block1 = this.child('block_1', new ResnetBlock(F, channels, channels));
    this.attn1 = attention ? this.child('attn_1', new AttnBlock(F, channels)) : undefined;
    this.block2 = this.child('block_2', new ResnetBlock(F, channels, channels));
  }

  forward(x: Tensor): Tensor {
    const h = this.block1.forward(x);
    return this.block2.forward(this.attn1 ? this.attn1.forward(h) : h);
  }
}

/** One resolution level (`down.{i}` / `up.{i}`): blocks, optional attention after each, optional resampling. */
class Level extends Module {
  readonly blocks: ResnetBlock[];
  readonly attns: AttnBlock[];
  readonly resample: Downsample2x | Upsample2x | undefined;

  constructor(F: Engine, inCh: number, outCh: number, nBlocks: number, attention: boolean, resample: 'downsample' | 'upsample' | undefined) {
    super(F);
    this.blocks = this.list('block', Array.from({ length: nBlocks }, (_, j) => new ResnetBlock(F, j === 0 ? inCh : outCh, outCh)));
    this.attns = this.list('attn', attention ? Array.from({ length: nBlocks }, () => new AttnBlock(F, outCh)) : []);
    if (resample === 'downsample') this.resample = this.child('downsample', new Downsample2x(F, outCh));
    else if (resample === 'upsample') this.resample = this.child('upsample', new Upsample2x(F, outCh));
  }

  forward(x: Tensor): Tensor {
    let h = x;
    this.blocks.forEach((block, j) => {
      h = block.forward(h);
      if (this.attns.length) h = this.attns[j].forward(h);
    });
    return this.resample ? this.resample.forward(h) : h;
  }
}

function checkWidths(config: ConvNetConfig): void {
  for (const m of config.chMult) {
    if ((config.ch * m) % 32 !== 0) {
      throw new TesseraError('CONFIG_INVALID', `\`ch\` × \`chMult\` must be multiples of 32 (GroupNorm has 32 groups), got ${config.ch} × ${m}`, { subject: 'tokenizer/msvq', data: { ch: config.ch, chMult: config.chMult } });
    }
  }
}

export class Encoder extends Module {
  readonly convIn: Conv2d;
  readonly down: Level[];
  readonly mid: MidBlock;
  readonly normOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(F: Engine, readonly config: ConvNetConfig) {
    super(F);
    checkWidths(config);
    const { ch, chMult, numResBlocks, zChannels, inChannels } = config;
    const n = chMult.length;
    this.convIn = this.child('conv_in', new Conv2d(F, inChannels, ch, 3, { padding: 1 }));
    // level i receives ch·chMult[i−1] channels (ch at level 0) and outputs ch·chMult[i]
    this.down = this.list('down', chMult.map((m, i) => new Level(F, ch * (i === 0 ? 1 : chMult[i - 1]), ch * m, numResBlocks, i === n - 1 && config.usingSelfAttention, i === n - 1 ? undefined : 'downsample')));
    const top = ch * chMult[n - 1];
    this.mid = this.child('mid', new MidBlock(F, top, config.usingMidSelfAttention));
    this.normOut = this.child('norm_out', normalize(F, top));
    this.convOut = this.child('conv_out', new Conv2d(F, top, zChannels, 3, { padding: 1 }));
  }

  /** Image (B, 3, H, W) in [-1, 1] → (B, z, H/2^(n−1), W/2^(n−1)). */
  forward(img_B3HW: Tensor): Tensor {
    let h = this.convIn.forward(img_B3HW);
    for (const level of this.down) h = level.forward(h);
    h = this.mid.forward(h);
    return this.convOut.forward(this.F.silu(this.normOut.forward(h)));
  }
}

export class Decoder extends Module {
  readonly convIn: Conv2d;
  readonly mid: MidBlock;
  /** `up.{i}` in index order; run from the deepest level (n − 1) down to 0. */
  readonly up: Level[];
  readonly normOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(F: Engine, readonly config: ConvNetConfig) {
    super(F);
    checkWidths(config);
    const { ch, chMult, numResBlocks, zChannels, inChannels } = config;
    const n = chMult.length;
    const top = ch * chMult[n - 1];
    this.convIn = this.child('conv_in', new Conv2d(F, zChannels, top, 3, { padding: 1 }));
    this.mid = this.child('mid', new MidBlock(F, top, config.usingMidSelfAttention));
    // level i (visited deepest first) maps the previous level's width to ch·chMult[i]
    const levels = chMult.map((m, i) => new Level(F, ch * (i === n - 1 ? chMult[n - 1] : chMult[i + 1]), ch * m, numResBlocks + 1, i === n - 1 && config.usingSelfAttention, i === 0 ? undefined : 'upsample'));
    this.up = this.list('up', levels);
    this.normOut = this.child('norm_out', normalize(F, ch * chMult[0]));
    this.convOut = this.child('conv_out', new Conv2d(F, ch * chMult[0], inChannels, 3, { padding: 1 }));
  }

  /** Latent (B, z, h, w) → raw image (B, 3, h·2^(n−1), w·2^(n−1)), not clamped. */
  forward(z_BChw: Tensor): Tensor {
    let h = this.mid.forward(this.convIn.forward(z_BChw));
    for (let i = this.up.length - 1; i >= 0; i--) h = this.up[i].forward(h);
    return this.convOut.forward(this.F.silu(this.normOut.forward(h)));
  }
}

export interface VqvaeConfig {
  net: ConvNetConfig;
  quantizer: QuantizerConfig;
  /** Kernel size of quant_conv / post_quant_conv (padding ks // 2). */
  quantConvKernelSize: number;
}

/** The VQVAE / HARTAutoEncoder module tree: encoder, decoder, quant_conv, post_quant_conv, quantize. */
export class Vqvae extends Module {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quantConv: Conv2d;
  readonly postQuantConv: Conv2d;
  readonly quantize: ResidualQuantizer;

  constructor(F: Engine, readonly config: VqvaeConfig) {
    super(F);
    const z = config.net.zChannels;
    if (z !== config.quantizer.channels) {
      throw new TesseraError('CONFIG_INVALID', `\`zChannels\` (${z}) must equal the quantizer width (${config.quantizer.channels})`, { subject: 'tokenizer/msvq' });
    }
    const ks = config.quantConvKernelSize;
    this.encoder = this.child('encoder', new Encoder(F, config.net));
    this.decoder = this.child('decoder', new Decoder(F, config.net));
    this.quantize = this.child('quantize', new ResidualQuantizer(F, config.quantizer));
    this.quantConv = this.child('quant_conv', new Conv2d(F, z, z, ks, { padding: Math.floor(ks / 2) }));
    this.postQuantConv = this.child('post_quant_conv', new Conv2d(F, z, z, ks, { padding: Math.floor(ks / 2) }));
  }

  /** Loads official keys (HART's released file: `prefix: 'vae.'`; its `disc.*` keys are outside the prefix). */
  override loadStateDict(weights: ReadonlyMap<string, HostTensor>, options: LoadOptions = {}): void {
    const key = `${options.prefix ?? ''}quantize.ema_vocab_hit_SV`;
    super.loadStateDict(fitUsageBuffer(weights, key, [this.quantize.patchNums.length, this.config.quantizer.vocabSize]), options);
  }

  /** Down-sampling factor of the encoder. */
  get downsample(): number {
    return 2 ** (this.config.net.chMult.length - 1);
  }

  /** f = quant_conv(encoder(img)). */
  features(img_B3HW: Tensor): Tensor {
    return this.quantConv.forward(this.encoder.forward(img_B3HW));
  }

  /** Raw decoder output of features (not clamped). */
  decodeRaw(fHat_BChw: Tensor): Tensor {
    return this.decoder.forward(this.postQuantConv.forward(fHat_BChw));
  }

  /** fhat_to_img: clamp(decoder(post_quant_conv(f̂)), −1, 1). */
  fhatToImage(fHat_BChw: Tensor): Tensor {
    return this.F.clip(this.decodeRaw(fHat_BChw), -1, 1);
  }
}
