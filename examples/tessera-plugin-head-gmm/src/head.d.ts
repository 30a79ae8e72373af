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
import { Embedding, LayerNorm, Linear, Module, Parameter } from '@tessera/core';
import type { DrawSource, Engine, Head, HeadInput, HeadSample, HeadSampleOptions, HeadTarget, Tensor } from '@tessera/core';
import { Mixture } from './mixture';
import type { GmmHeadOptions } from './options';
/**
 * The output layer: torch's default weight init, and a bias that starts the K means at
 * different random places (N(0, 1)) with equal weights and unit scales, so the
 * components do not begin identical.
 */
declare class MixtureProjection extends Module {
    readonly K: number;
    readonly C: number;
    readonly weight: Parameter;
    readonly bias: Parameter;
    constructor(F: Engine, width: number, K: number, C: number);
    forward(h_ND: Tensor): Tensor;
}
export declare class GmmNetwork extends Module {
    readonly options: GmmHeadOptions;
    readonly norm: LayerNorm;
    readonly inputProj: Linear;
    readonly levelEmbed: Embedding | undefined;
    readonly hidden: Linear;
    readonly output: MixtureProjection;
    constructor(F: Engine, options: GmmHeadOptions);
    /** The mixture of every row of z [N, D] (level int32 [N] when levels are embedded). */
    mixture(z_ND: Tensor, level_N: Tensor | undefined): Mixture;
}
export declare class GmmHead implements Head {
    private readonly F;
    readonly options: GmmHeadOptions;
    readonly id = "head/gmm";
    readonly module: GmmNetwork;
    constructor(F: Engine, options: GmmHeadOptions);
    private rows;
    loss(input: HeadInput, target: HeadTarget, weights: Tensor | undefined, _draws: DrawSource): Tensor;
    sample(input: HeadInput, options: HeadSampleOptions): HeadSample;
}
export {};
//# sourceMappingURL=head.d.ts.map