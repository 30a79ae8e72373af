/**
 * The `vae` tokenizer: images to continuous latents with the KL autoencoder and back
 * (spec/mar.md §1 and §2.5; spec/far.md uses the same). Encoding takes one posterior
 * sample (or the mean) and multiplies it by `scaleFactor` (0.2325), as
 * `engine_mar.py::train_one_epoch` does with `posterior.sample().mul_(0.2325)`; decoding
 * divides by it first, as the samplers' `vae.decode(tokens / 0.2325)`. The training loss
 * is LDM's KL-autoencoder objective without its perceptual and adversarial terms.
 */
import { compileIfSupported, TesseraError } from '@tessera/core';
import type { CompiledFunction, ContinuousSpace, ContinuousTokens, DrawSource, Engine, LatentCacheCodec, LatentPyramid, Tensor, Tokenizer, Tokens } from '@tessera/core';
import { AutoencoderKL, DiagonalGaussian } from './autoencoder';
import { autoencoderConfig, type VaeOptions } from './options';

const ID = 'tokenizer/vae';

/** Area-average down, bicubic up: a multi-scale view of the latent map. */
export class InterpolationPyramid implements LatentPyramid {
  constructor(private readonly F: Engine) {}

  down(latent_BChw: Tensor, size: [number, number]): Tensor {
    return this.F.interpolate(checkMap(latent_BChw), size, 'area');
  }

  up(latent_BChw: Tensor, size: [number, number]): Tensor {
    return this.F.interpolate(checkMap(latent_BChw), size, 'bicubic');
  }
}

export class VaeTokenizer implements Tokenizer {
  readonly id = ID;
  readonly space: ContinuousSpace;
  readonly resolution: [number, number];
  readonly module: AutoencoderKL;
  private compiledDecode: CompiledFunction<Tensor> | undefined;
  readonly pyramid: LatentPyramid;

  constructor(private readonly F: Engine, readonly options: VaeOptions) {
    this.module = new AutoencoderKL(F, autoencoderConfig(options));
    const stride = this.module.stride;
    if (options.resolution % stride !== 0) {
      throw new TesseraError('CONFIG_INVALID', `\`resolution\` ${options.resolution} is not a multiple of the latent stride ${stride} (2^(levels − 1) for ${options.channelMultipliers.length} channel multipliers); use a multiple of ${stride}.`, {
        subject: ID, data: { field: 'resolution', value: options.resolution, stride },
      });
    }
    const grid = options.resolution / stride;
    this.resolution = [options.resolution, options.resolution];
    this.space = { kind: 'continuous', channels: options.embedDim, grid: [grid, grid] };
    this.pyramid = new InterpolationPyramid(F);
  }

  /** Images [B, 3, H, W] in [−1, 1] -> scaled latents [B, E, H/s, W/s]. */
  encode(images_B3HW: Tensor, draws?: DrawSource): ContinuousTokens {
    this.checkImages(images_B3HW);
    const { sampleLatents, scaleFactor } = this.options;
    if (sampleLatents && !draws) {
      throw new TesseraError('USAGE', '`sampleLatents` is true, so encoding draws a posterior sample and needs a draw source; pass one, or set `sampleLatents: false` to encode to the posterior mean.', {
        subject: ID, data: { option: 'sampleLatents' },
      });
    }
    const latent = this.F.tidy(() => {
      const posterior = this.module.encode(images_B3HW);
      const z = sampleLatents ? posterior.sample(draws as DrawSource) : posterior.mode();
      return this.F.mul(z, scaleFactor);
    });
    return { kind: 'continuous', latent };
  }

  /**
   * The latent cache keeps the raw `quant_conv` moments [B, 2E, h, w] (mean and unclamped
   * log-variance), as MAR's `main_cache.py`; tokens are then drawn from them exactly as
   * `encode` draws them (spec/mar.md §8.2).
   */
  readonly latentCache: LatentCacheCodec = {
    store: (images_B3HW) => {
      this.checkImages(images_B3HW);
      return { moments: this.F.tidy(() => this.module.encode(images_B3HW).moments_B2Ehw) };
    },
    tokens: (stored, draws) => {
      const { sampleLatents, scaleFactor } = this.options;
      const moments = stored.moments;
      if (!moments || moments.shape.length !== 4 || moments.shape[1] !== 2 * this.options.embedDim) {
        throw new TesseraError('SHAPE_MISMATCH', `a vae latent cache holds \`moments\` [B, ${2 * this.options.embedDim}, h, w]; got ${moments ? `[${moments.shape.join(', ')}]` : 'no `moments`'}`, {
          subject: ID, data: { got: moments ? [...moments.shape] : null },
        });
      }
      if (sampleLatents && !draws) {
        throw new TesseraError('USAGE', '`sampleLatents` is true, so tokens from cached moments need a draw source for the posterior sample.', { subject: ID, data: { option: 'sampleLatents' } });
      }
      const latent = this.F.tidy(() => {
        const posterior = new DiagonalGaussian(this.F, moments);
        return this.F.mul(sampleLatents ? posterior.sample(draws as DrawSource) : posterior.mode(), scaleFactor);
      });
      return { kind: 'continuous', latent };
    },
  };

  /** Scaled latents [B, E, h, w] -> images [B, 3, h·s, w·s] (unclamped). */
  decode(tokens: Tokens): Tensor {
    if (tokens.kind !== 'continuous') {
      throw new TesseraError('PLUGIN_INCOMPATIBLE', '`tokenizer/vae` decodes continuous tokens; got discrete tokens. Pair it with a head that produces continuous tokens, such as `diffusion`.', {
        subject: ID, data: { got: tokens.kind },
      });
    }
    const z = checkMap(tokens.latent);
    if (z.shape[1] !== this.options.embedDim) {
      throw new TesseraError('SHAPE_MISMATCH', `latents have ${z.shape[1]} channels; this autoencoder's \`embedDim\` is ${this.options.embedDim}`, {
        subject: ID, data: { expected: this.options.embedDim, got: z.shape[1] },
      });
    }
    // One graph per latent shape on engines that trace (onnx), eager elsewhere.
    this.compiledDecode ??= compileIfSupported(this.F, (z_BEhw: Tensor) => this.module.decode(this.F.div(z_BEhw, this.options.scaleFactor)), { name: 'vae_decode' });
    const decode = this.compiledDecode;
    return this.F.tidy(() => decode(z));
  }

  /**
   * `l1Weight`·Σ|x − x̂| + `l2Weight`·Σ(x − x̂)² + `klWeight`·KL, each summed per image and
   * averaged over the batch (LDM's `LPIPSWithDiscriminator` with the perceptual weight,
   * discriminator and learned output log-variance off). Works on unscaled latents: the
   * scale factor only matters to the generator.
   */
  trainingLoss(images_B3HW: Tensor, draws: DrawSource): { loss: Tensor; terms: Record<string, Tensor> } {
    this.checkImages(images_B3HW);
    const F = this.F;
    const { l1Weight, l2Weight, klWeight, sampleLatents } = this.options;
    return F.tidy(() => {
      const posterior = this.module.encode(images_B3HW);
      const z = sampleLatents ? posterior.sample(draws) : posterior.mode();
      const diff = F.sub(images_B3HW, this.module.decode(z));
      const perImage = (t: Tensor): Tensor => F.mean(F.sum(t, [1, 2, 3]));
      const l1 = perImage(F.abs(diff));
      const l2 = perImage(F.square(diff));
      const kl = F.mean(posterior.kl());
      const loss = F.add(F.add(F.mul(l1, l1Weight), F.mul(l2, l2Weight)), F.mul(kl, klWeight));
      return { loss, terms: { l1, l2, kl } };
    });
  }

  private checkImages(x: Tensor): void {
    const s = this.module.stride;
    const [, C, H, W] = x.shape;
    if (x.shape.length !== 4 || C !== 3 || H % s !== 0 || W % s !== 0) {
      throw new TesseraError('SHAPE_MISMATCH', `images must be [B, 3, H, W] with H and W multiples of the latent stride ${s}; got [${x.shape.join(', ')}]`, {
        subject: ID, data: { got: [...x.shape], stride: s },
      });
    }
  }
}

function checkMap(x: Tensor): Tensor {
  if (x.shape.length !== 4) {
    throw new TesseraError('SHAPE_MISMATCH', `latents must be [B, C, h, w]; got [${x.shape.join(', ')}]`, { subject: ID, data: { got: [...x.shape] } });
  }
  return x;
}
