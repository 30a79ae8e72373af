/**
 * The categorical head: a softmax over the tokenizer's codebook, as VAR predicts each
 * token map (paper arXiv 2404.02905 §3; official `models/basic_var.py`
 * `AdaLNBeforeHead` and `models/var.py` `get_logits`; spec var.md §5.8, HART's variant
 * hart.md §4.5). `logits = head(norm(z)·(1 + s) + β)` with `(s, β)` (scale first) from
 * `head_nm.ada_lin(SiLU(cond))` and `norm` a LayerNorm without affine, eps 1e-6 (VAR),
 * or an RMSNorm with a learnt weight (HART). With `adaLN: false` the head is a plain
 * affine norm then the projection, for raster baselines without a condition path.
 *
 * Parameter names are VAR's state_dict keys (`head_nm.ada_lin.1.*`, `head.*`; HART adds
 * `head_nm.ln_wo_grad.weight`), so the head loads straight from an official checkpoint
 * beside the backbone, which owns every other key. Loss: `loss.ts`; sampling:
 * `sampling.ts` (logits are read to the host there).
 */
import {
  compileIfSupported, CompiledFunction, Engine, Head, HeadInput, HeadObserver, HeadSample, HeadSampleOptions, HeadTarget, init, Initializer, LayerNorm, Linear, Module, Parameter,
  Tensor, TesseraError, DrawSource,
} from '@tessera/core';
import { crossEntropy, weightedMean } from './loss';
import { residualLoss } from './residual-loss';
import type { CategoricalHeadOptions } from './options';
import { mixGuidance, sampleTokens_ } from './sampling';

const SUBJECT = 'head/categorical';

/** VAR's init (spec var.md §8.5): truncated normal σ = √(1/(3C)) (bounds ±2), times `gain`. */
function varTruncNormal(width: number, gain: number): Initializer {
  return (shape, rng) => {
    const w = init.truncNormal(Math.sqrt(1 / (3 * width)))(shape, rng);
    for (let i = 0; i < w.length; i++) w[i] *= gain;
    return w;
  };
}

/** RMSNorm over the last axis with a learnt weight: `w ⊙ x·rsqrt(mean(x²) + eps)` (HART's llama norm). */
export class RMSNorm extends Module {
  readonly weight: Parameter;

  constructor(F: Engine, readonly dim: number, readonly eps: number) {
    super(F);
    this.weight = this.param('weight', [dim], init.ones);
  }

  forward(x: Tensor): Tensor {
    const F = this.F;
    return F.tidy(() => F.mul(F.mul(x, F.rsqrt(F.add(F.mean(F.square(x), -1, true), this.eps))), this.weight.value));
  }
}

/**
 * VAR's `AdaLNBeforeHead`: `norm(x)·(1 + scale) + shift` with `(scale, shift)` from
 * `ada_lin(SiLU(cond))`. Key `ada_lin.1`: index 0 of the official `nn.Sequential` is
 * the SiLU, which has no parameters.
 */
export class AdaLNBeforeHead extends Module {
  readonly adaLin: Linear;
  readonly rms: RMSNorm | undefined;

  constructor(F: Engine, readonly width: number, readonly norm: 'layer' | 'rms', readonly eps: number) {
    super(F);
    this.adaLin = this.child('ada_lin.1', new Linear(F, width, 2 * width, true, { weight: varTruncNormal(width, 0.5), bias: init.zeros }));
    this.rms = norm === 'rms' ? this.child('ln_wo_grad', new RMSNorm(F, width, eps)) : undefined;
  }

  /** `x` [rows, ..., C] with `cond_RD` [rows, D] (one condition per leading row). */
  forward(x: Tensor, cond_RD: Tensor): Tensor {
    const F = this.F;
    const C = this.width;
    return F.tidy(() => {
      const ada_R2C = this.adaLin.forward(F.silu(cond_RD));
      // [R, 2C] -> [R, 1, ..., 1, 2C] so it broadcasts over the positions of each row
      const ada = F.reshape(ada_R2C, [cond_RD.shape[0], ...x.shape.slice(1, -1).map(() => 1), 2 * C]);
      const [scale, shift] = F.split(ada, [C, C], -1);
      const normed = this.rms ? this.rms.forward(x) : F.layerNorm(x, undefined, undefined, this.eps);
      return F.add(F.mul(normed, F.add(scale, 1)), shift);
    });
  }
}

/** The head's parameters: `head_nm.*` (the norm before the projection) and `head.*` [V, C]. */
export class CategoricalHeadModule extends Module {
  readonly headNorm: AdaLNBeforeHead | LayerNorm | RMSNorm;
  readonly head: Linear;

  constructor(F: Engine, readonly options: CategoricalHeadOptions, residual?: Module) {
    super(F);
    const { width, vocab, adaLN, norm, normEps } = options;
    this.headNorm = this.child('head_nm', adaLN
      ? new AdaLNBeforeHead(F, width, norm, normEps)
      : norm === 'rms' ? new RMSNorm(F, width, normEps) : new LayerNorm(F, width, normEps, true));
    this.head = this.child('head', new Linear(F, width, vocab, true, { weight: varTruncNormal(width, 0.02), bias: init.zeros }));
    // HART keeps its residual diffusion head under `diffloss.*` beside `head.*`.
    if (residual) this.child('diffloss', residual);
  }

  /** Logits [..., V] of hidden states `z` [rows, ..., C]; `cond_RD` [rows, D] is required with AdaLN. */
  forward(z: Tensor, cond_RD: Tensor | undefined): Tensor {
    const C = this.options.width;
    if (z.shape[z.shape.length - 1] !== C) {
      throw new TesseraError('SHAPE_MISMATCH', `hidden states must end in the head width ${C}, got [${z.shape.join(', ')}]`, {
        subject: SUBJECT, data: { expected: C, got: [...z.shape] },
      });
    }
    return this.F.tidy(() => this.head.forward(this.normalize(z, cond_RD)));
  }

  private normalize(z: Tensor, cond_RD: Tensor | undefined): Tensor {
    if (!(this.headNorm instanceof AdaLNBeforeHead)) return this.headNorm.forward(z);
    if (!cond_RD || cond_RD.shape.length !== 2 || cond_RD.shape[0] !== z.shape[0] || cond_RD.shape[1] !== this.options.width) {
      throw new TesseraError('SHAPE_MISMATCH', `the AdaLN head needs \`cond\` [${z.shape[0]}, ${this.options.width}] (one condition per row of z [${z.shape.join(', ')}]), got ${cond_RD ? `[${cond_RD.shape.join(', ')}]` : 'none'}`, {
        subject: SUBJECT, data: { z: [...z.shape], cond: cond_RD ? [...cond_RD.shape] : null },
      });
    }
    return this.headNorm.forward(z, cond_RD);
  }
}

/** Sampling options plus the step progress that VAR's Gumbel smoothing reads. */
export interface CategoricalSampleOptions extends HeadSampleOptions {
  /** Position of this AR step in [0, 1] (VAR's `ratio`); required with `smooth`. */
  progress?: number;
}

/** Head `categorical`: loss and sampler of a softmax over the codebook. */
export class CategoricalHead implements Head {
  readonly id = SUBJECT;
  readonly module: CategoricalHeadModule;
  private readonly compiledLogits = new Map<string, CompiledFunction<Tensor>>();

  /** `residual`: the composed head of the continuous residual (option `residual`), if any. */
  constructor(private readonly F: Engine, readonly options: CategoricalHeadOptions, readonly residual?: Head) {
    this.module = new CategoricalHeadModule(F, options, residual?.module);
  }

  /** Logits [..., V]: `z` [N, C] with `cond` [N, D], or `z` [B, L, C] with `cond` [B, D]. */
  logits(input: HeadInput): Tensor {
    return this.module.forward(input.z, input.cond);
  }

  /** `logits` for sampling: one graph per row count on engines that trace (onnx), eager elsewhere. */
  private sampleLogits(input: HeadInput): Tensor {
    const key = input.cond ? 'cond' : 'plain';
    let fn = this.compiledLogits.get(key);
    if (!fn) {
      fn = compileIfSupported(this.F, (z: Tensor, cond?: Tensor) => this.module.forward(z, cond), { weights: 'auto', name: 'categorical_logits' });
      this.compiledLogits.set(key, fn);
    }
    return input.cond ? fn(input.z, input.cond) : fn(input.z);
  }

  /**
   * Weighted mean (Σ w·ℓ / Σ w) of the label-smoothed cross-entropy over all rows; scalar.
   * With a composed residual head (HART) the residual head's loss at `target.residual` is
   * added (residual-loss.ts; needs `input.residualCondition` and `draws`). `observe` sees
   * `ce` and the residual intermediates.
   */
  loss(input: HeadInput, target: HeadTarget, weights: Tensor | undefined, draws?: DrawSource, observe?: HeadObserver): Tensor {
    const F = this.F;
    if (!target.indices) {
      throw new TesseraError('SHAPE_MISMATCH', 'the categorical head trains on discrete targets: `target.indices` is missing', { subject: SUBJECT });
    }
    if (this.residual && !target.residual) {
      throw new TesseraError('PLUGIN_INCOMPATIBLE', 'this head composes a residual head (option `residual`), but the training example carries no residual target; use tokenizer `msvq` with `hybrid: true`, or drop the `residual` option', { subject: SUBJECT });
    }
    const indices = target.indices;
    return F.tidy(() => {
      const logits = this.logits(input);
      const V = this.options.vocab;
      const logits_NV = F.reshape(logits, [-1, V]); // [..., V] -> [N, V]
      const target_N = F.reshape(indices.dtype === 'int32' ? indices : F.cast(indices, 'int32'), [-1]);
      const ce_N = crossEntropy(F, logits_NV, target_N, this.options.labelSmoothing);
      const ce = weightedMean(F, ce_N, weights ? F.reshape(weights, [-1]) : undefined);
      observe?.('ce', { dtype: 'float32', shape: [], data: Float32Array.from(F.readSync(ce) as Float32Array) });
      if (!this.residual || !target.residual) return ce;
      if (!draws) throw new TesseraError('USAGE', 'the residual head\'s loss draws tokens and diffusion noise: pass `draws`', { subject: SUBJECT });
      const residual = residualLoss(F, this.residual, input, logits_NV, target_N, target.residual, this.options.residualTraining, draws, observe);
      observe?.('residual.loss', { dtype: 'float32', shape: [], data: Float32Array.from(F.readSync(residual) as Float32Array) });
      return F.add(ce, residual);
    });
  }

  /**
   * One token per row. With `cfg ≠ 1` the rows of `z` (and `cond`) are the conditional
   * rows then the null-condition rows, mixed as `cfg·cond − (cfg − 1)·uncond`; the
   * result has half as many rows. Settings left out fall back to the head's options.
   * `indices` has z's leading shape; with `smooth`, `values` holds the Gumbel code
   * weights [..., V].
   */
  sample(input: HeadInput, options: CategoricalSampleOptions): HeadSample {
    const F = this.F;
    const V = this.options.vocab;
    const logits = this.sampleLogits(input);
    const lead = logits.shape.slice(0, -1);
    let x_RV: Float32Array;
    try {
      x_RV = Float32Array.from(F.readSync(logits) as Float32Array);
    } finally {
      F.dispose(logits);
    }
    options.observe?.('logits', { dtype: 'float32', shape: [...lead, V], data: Float32Array.from(x_RV) });
    if (options.guided ?? options.cfg !== 1) {
      if (lead[0] % 2 !== 0) {
        throw new TesseraError('SHAPE_MISMATCH', `guidance (cfg ${options.cfg}) needs conditional then null-condition rows, got an odd row count ${lead[0]}`, {
          subject: SUBJECT, data: { rows: lead[0], cfg: options.cfg },
        });
      }
      x_RV = mixGuidance(x_RV, V, options.cfg);
      lead[0] /= 2;
      options.observe?.('guidedLogits', { dtype: 'float32', shape: [...lead, V], data: Float32Array.from(x_RV) });
    }
    const result = sampleTokens_(x_RV, V, {
      temperature: options.temperature ?? this.options.temperature,
      topK: options.topK ?? this.options.topK,
      topP: options.topP ?? this.options.topP,
      greedy: options.greedy,
      smooth: options.smooth,
      ratio: options.progress,
    }, options.draws);
    options.observe?.('probs', { dtype: 'float32', shape: [...lead, V], data: result.probs_RV });
    const out: HeadSample = { indices: F.tensor(result.idx_R, lead, 'int32') };
    if (result.smoothWeights_RV) out.values = F.tensor(result.smoothWeights_RV, [...lead, V], 'float32');
    return out;
  }
}
