/**
 * The `msvq` tokenizer: VAR's VQVAE with its multi-scale residual quantizer behind the
 * Tokenizer contract (spec/var.md §3–4), and HART's hybrid mode (spec/hart.md §3) where
 * tokens also carry the continuous residual. Encoding: f = quant_conv(encoder(img)), then
 * the residual multi-scale search; decoding: tokens → cumulative f̂ (+ residual) →
 * clamp(decoder(post_quant_conv(f̂)), −1, 1). The `multiScale` view is what a next-scale
 * direction drives in training (teacher-forcing inputs) and sampling (next inputs).
 */
import { compileIfSupported, TesseraError } from '@tessera/core';
import type { CompiledFunction, DiscreteSpace, DiscreteTokens, DrawSource, Engine, MultiScaleQuantizer, Tensor, Tokenizer, Tokens } from '@tessera/core';
import { hybridEncode, hybridFeatures } from './hybrid';
import { MsvqOptions, sharingOf } from './options';
import { Vqvae, VqvaeConfig } from './vqvae';

export const TOKENIZER_ID = 'tokenizer/msvq';

/** The module configuration the options describe. */
export function vqvaeConfigOf(o: MsvqOptions): VqvaeConfig {
  return {
    net: {
      ch: o.ch,
      chMult: o.chMult,
      numResBlocks: o.numResBlocks,
      zChannels: o.zChannels,
      inChannels: 3,
      usingSelfAttention: o.usingSelfAttention,
      usingMidSelfAttention: o.usingMidSelfAttention,
    },
    quantizer: {
      vocabSize: o.vocabSize,
      channels: o.zChannels,
      usingZnorm: o.usingZnorm,
      beta: o.beta,
      patchNums: o.patchNums,
      quantResi: o.quantResi,
      sharing: sharingOf(o),
      hybrid: o.hybrid,
    },
    quantConvKernelSize: o.quantConvKernelSize,
  };
}

export class MsvqTokenizer implements Tokenizer {
  readonly id = TOKENIZER_ID;
  readonly space: DiscreteSpace;
  readonly resolution: [number, number];
  readonly module: Vqvae;
  readonly multiScale: MultiScaleQuantizer;
  private readonly compiledDecode = new Map<string, CompiledFunction<Tensor>>();
  private readonly compiledNext = new Map<number, CompiledFunction<Tensor[]>>();

  constructor(private readonly F: Engine, readonly options: MsvqOptions) {
    this.module = new Vqvae(F, vqvaeConfigOf(options));
    const side = options.patchNums[options.patchNums.length - 1];
    this.space = { kind: 'discrete', vocab: options.vocabSize, embedDim: options.zChannels, grid: [side, side] };
    this.resolution = [options.resolution, options.resolution];
    const vae = this.module;
    const q = vae.quantize;
    this.multiScale = {
      patchNums: [...options.patchNums],
      embed: (indices) => q.embed(indices),
      teacherForcingInput: (indices) => q.teacherForcingInput(indices),
      nextInput: (si, fHat, h) => {
        const [fHatNext, next] = this.compiledNextInput(si)(fHat, h);
        return { fHat: fHatNext, next };
      },
      decodeFeatures: (fHat) => vae.fhatToImage(fHat),
    };
  }

  /** `nextInput` of scale `si` as one graph per batch size on engines that trace (onnx), eager elsewhere. */
  private compiledNextInput(si: number): CompiledFunction<Tensor[]> {
    let fn = this.compiledNext.get(si);
    if (!fn) {
      const q = this.module.quantize;
      fn = compileIfSupported(this.F, (fHat: Tensor, h: Tensor): Tensor[] => {
        const r = q.nextInput(si, fHat, h);
        return r.next ? [r.fHat, r.next] : [r.fHat]; // [f̂, next input] or [f̂] at the last scale
      }, { name: 'msvq_next_input' });
      this.compiledNext.set(si, fn);
    }
    return fn;
  }

  /** Images (B, 3, H, W) in [-1, 1] → per-scale indices (B, pn²), plus the residual in hybrid mode. */
  encode(images_BCHW: Tensor): DiscreteTokens {
    this.checkImages(images_BCHW);
    return this.F.tidy(() => {
      const f = this.module.features(images_BCHW);
      if (this.options.hybrid) {
        const h = hybridEncode(this.F, this.module.quantize, f);
        return { kind: 'discrete' as const, indices: h.indices, residual: h.residual_BChw };
      }
      return { kind: 'discrete' as const, indices: this.module.quantize.encode(f).indices };
    });
  }

  /**
   * Tokens → images in [-1, 1]. Hybrid tokens without a residual decode the discrete part
   * only. Tokens that carry the sampler's accumulated features decode those (as VAR's
   * sampler does, which keeps Gumbel-smoothed sampling); otherwise f̂ is rebuilt from the
   * indices.
   */
  decode(tokens: Tokens): Tensor {
    if (tokens.kind !== 'discrete') {
      throw new TesseraError('PLUGIN_INCOMPATIBLE', '`tokenizer/msvq` decodes discrete tokens; got continuous tokens. Use a continuous tokenizer such as `vae`.', { subject: TOKENIZER_ID });
    }
    const withResidual = this.options.hybrid && !!tokens.residual;
    const fromFeatures = !!tokens.features;
    const key = `${withResidual}/${fromFeatures}`;
    let fn = this.compiledDecode.get(key);
    if (!fn) {
      // One graph per batch size on engines that trace (onnx), eager elsewhere.
      fn = compileIfSupported(this.F, (...xs: Tensor[]) => {
        const residual = withResidual ? xs[xs.length - 1] : undefined;
        const codes = withResidual ? xs.slice(0, -1) : xs;
        const fHat = fromFeatures ? codes[0] : this.module.quantize.indicesToFhat(codes).at(-1) as Tensor;
        return this.module.fhatToImage(this.options.hybrid ? hybridFeatures(this.F, fHat, residual) : fHat);
      }, { name: 'msvq_decode' });
      this.compiledDecode.set(key, fn);
    }
    const codes = tokens.features ? [tokens.features] : tokens.indices;
    return this.F.tidy(() => (fn as CompiledFunction<Tensor>)(...codes, ...(withResidual ? [tokens.residual as Tensor] : [])));
  }

  /**
   * Tokenizer training loss of a batch: w2·mse(recon, img) + w1·mean|recon − img| + VQ loss
   * (codebook + β·commitment, mean over scales), with f̂ passed straight through to the
   * decoder. In hybrid mode the residual is added with probability 1 − skipContinuousProbability
   * (one uniform draw per call, as HART's `random.random() >= skip`).
   */
  trainingLoss(images_BCHW: Tensor, draws: DrawSource): { loss: Tensor; terms: Record<string, Tensor> } {
    this.checkImages(images_BCHW);
    const F = this.F;
    const o = this.options;
    const addResidual = o.hybrid && draws.uniform([1], 'skip_continuous')[0] >= o.skipContinuousProbability;
    const f = this.module.features(images_BCHW);
    const { fHat_BChw, vqLoss } = this.module.quantize.trainingForward(f, addResidual);
    const diff = F.sub(this.module.decodeRaw(fHat_BChw), images_BCHW);
    const l2 = F.mean(F.square(diff));
    const l1 = F.mean(F.abs(diff));
    const loss = F.add(F.add(F.mul(l2, o.reconstructionL2Weight), F.mul(l1, o.reconstructionL1Weight)), vqLoss);
    return { loss, terms: { reconstructionL2: l2, reconstructionL1: l1, vq: vqLoss } };
  }

  private checkImages(images: Tensor): void {
    const [, C, H, W] = images.shape;
    const [rh, rw] = this.resolution;
    if (images.shape.length !== 4 || C !== 3 || H !== rh || W !== rw) {
      throw new TesseraError('SHAPE_MISMATCH', `\`tokenizer/msvq\` expects images [B, 3, ${rh}, ${rw}], got [${images.shape.join(', ')}]`, { subject: TOKENIZER_ID, data: { expected: [3, rh, rw], got: [...images.shape] } });
    }
  }
}
