/**
 * Head `gmm`: a mixture of K diagonal Gaussians per continuous token, predicted from the
 * backbone's hidden state z, as GIVT does in place of a softmax over a codebook
 * ("Generative Infinite-Vocabulary Transformers", arXiv 2312.02116, §3.1–3.2). A small
 * MLP (LayerNorm → Linear → SiLU [+ level embedding] → Linear → SiLU → Linear) maps z to
 * the mixture logits, means and log standard deviations (./mixture.ts).
 *
 * Loss: the negative log-likelihood of the target token, divided by the token width
 * (nats per value, so the scale does not grow with the latent channels), as a weighted
 * mean over rows. Sampling: temperature tempers the mixture (logits / τ, σ·√τ); guidance
 * with scale s draws from p_c^s · p_u^(1−s) (distribution-based CFG) by
 * sampling–importance–resampling; `greedy` returns the heaviest component's mean.
 */
import { Embedding, LayerNorm, Linear, Module, Parameter, TesseraError, init } from '@tessera/core';
import type { DrawSource, Engine, Head, HeadInput, HeadSample, HeadSampleOptions, HeadTarget, Tensor } from '@tessera/core';
import { heaviestMean, logDensity, Mixture, sampleGuided, sampleMixture, temper } from './mixture';
import type { GmmHeadOptions } from './options';

const SUBJECT = 'head/gmm';

/**
 * The output layer: torch's default weight init, and a bias that starts the K means at
 * different random places (N(0, 1)) with equal weights and unit scales, so the
 * components do not begin identical.
 */
class MixtureProjection extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;

  constructor(F: Engine, width: number, readonly K: number, readonly C: number) {
    super(F);
    const out = K * (1 + 2 * C);
    this.weight = this.param('weight', [out, width], init.torchDefaultWeight);
    this.bias = this.param('bias', [out], (shape, rng) => {
      const b = new Float32Array(out);
      for (let i = K; i < K + K * C; i++) b[i] = rng.normal();
      return b;
    });
  }

  forward(h_ND: Tensor): Tensor {
    return this.F.linear(h_ND, this.weight.value, this.bias.value);
  }
}

export class GmmNetwork extends Module {
  readonly norm: LayerNorm;
  readonly inputProj: Linear;
  readonly levelEmbed: Embedding | undefined;
  readonly hidden: Linear;
  readonly output: MixtureProjection;

  constructor(F: Engine, readonly options: GmmHeadOptions) {
    super(F);
    const { zChannels, width, components, tokenDim, levels } = options;
    this.norm = this.child('norm', new LayerNorm(F, zChannels, 1e-6));
    this.inputProj = this.child('input_proj', new Linear(F, zChannels, width));
    this.levelEmbed = levels === null ? undefined : this.child('level_embed', new Embedding(F, levels, width));
    this.hidden = this.child('hidden', new Linear(F, width, width));
    this.output = this.child('output', new MixtureProjection(F, width, components, tokenDim));
  }

  /** The mixture of every row of z [N, D] (level int32 [N] when levels are embedded). */
  mixture(z_ND: Tensor, level_N: Tensor | undefined): Mixture {
    const F = this.F;
    const { components: K, tokenDim: C, minLogScale, maxLogScale } = this.options;
    const N = z_ND.shape[0];
    let h_NW = this.inputProj.forward(this.norm.forward(z_ND));
    if (this.levelEmbed) {
      if (!level_N) throw new TesseraError('USAGE', 'head `gmm` embeds levels (`levels` is set) but got no `level` per row; use a direction that gives one (frequency), or set `levels` to null', { subject: SUBJECT });
      h_NW = F.add(h_NW, this.levelEmbed.forward(F.cast(level_N, 'int32')));
    }
    h_NW = F.silu(this.hidden.forward(F.silu(h_NW)));
    const out = this.output.forward(h_NW); // (N, K + K·C + K·C)
    return {
      logits_NK: F.slice(out, [0, 0], [N, K]),
      mu_NKC: F.reshape(F.slice(out, [0, K], [N, K * C]), [N, K, C]),
      logScale_NKC: F.clip(F.reshape(F.slice(out, [0, K + K * C], [N, K * C]), [N, K, C]), minLogScale, maxLogScale),
    };
  }
}

export class GmmHead implements Head {
  readonly id = SUBJECT;
  readonly module: GmmNetwork;

  constructor(private readonly F: Engine, readonly options: GmmHeadOptions) {
    this.module = new GmmNetwork(F, options);
  }

  private rows(z: Tensor): Tensor {
    const D = z.shape[z.shape.length - 1];
    if (D !== this.options.zChannels) {
      throw new TesseraError('SHAPE_MISMATCH', `z has width ${D}; this head was built for \`zChannels\` ${this.options.zChannels}. Set \`zChannels\` to the backbone's output width`, { subject: SUBJECT, data: { got: D, expected: this.options.zChannels } });
    }
    return z.shape.length === 2 ? z : this.F.reshape(z, [-1, D]); // (..., D) -> (N, D)
  }

  loss(input: HeadInput, target: HeadTarget, weights: Tensor | undefined, _draws: DrawSource): Tensor {
    const F = this.F;
    const values = target.values;
    if (!values) throw new TesseraError('PLUGIN_INCOMPATIBLE', 'head `gmm` models continuous tokens and got no `target.values`; use a continuous tokenizer such as `vae`, or head `categorical` for discrete tokens', { subject: SUBJECT });
    const C = this.options.tokenDim;
    if (values.shape[1] !== C) throw new TesseraError('SHAPE_MISMATCH', `targets have ${values.shape[1]} values per token; \`tokenDim\` is ${C}`, { subject: SUBJECT, data: { got: values.shape[1], expected: C } });
    return F.tidy(() => {
      const mix = this.module.mixture(this.rows(input.z), input.level);
      const N = values.shape[0];
      const nll_N = F.div(F.neg(F.reshape(logDensity(F, mix, F.reshape(values, [N, 1, C])), [N])), C);
      if (!weights) return F.mean(nll_N);
      const w_N = F.cast(weights, 'float32');
      return F.div(F.sum(F.mul(nll_N, w_N)), F.maximum(F.sum(w_N), 1e-12));
    });
  }

  sample(input: HeadInput, options: HeadSampleOptions): HeadSample {
    const F = this.F;
    const guided = options.guided ?? options.cfg !== 1;
    const values = F.tidy(() => {
      const z_RD = this.rows(input.z);
      const R = z_RD.shape[0];
      if (guided && R % 2 !== 0) throw new TesseraError('SHAPE_MISMATCH', `guided sampling needs conditional then null-condition rows, got an odd ${R}`, { subject: SUBJECT });
      const mix = this.module.mixture(z_RD, input.level);
      if (options.greedy) {
        const mean_RC = heaviestMean(F, mix);
        return guided ? F.slice(mean_RC, [0, 0], [R / 2, this.options.tokenDim]) : mean_RC;
      }
      const tempered = temper(F, mix, options.temperature);
      if (!guided) return F.reshape(sampleMixture(F, tempered, 1, options.draws), [R, this.options.tokenDim]);
      const half = (m: Mixture, from: number): Mixture => ({
        logits_NK: F.slice(m.logits_NK, [from, 0], [R / 2, m.logits_NK.shape[1]]),
        mu_NKC: F.slice(m.mu_NKC, [from, 0, 0], [R / 2, ...m.mu_NKC.shape.slice(1)]),
        logScale_NKC: F.slice(m.logScale_NKC, [from, 0, 0], [R / 2, ...m.logScale_NKC.shape.slice(1)]),
      });
      return sampleGuided(F, half(tempered, 0), half(tempered, R / 2), options.cfg, this.options.cfgCandidates, options.draws);
    });
    return { values };
  }
}
