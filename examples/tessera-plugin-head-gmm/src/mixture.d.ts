/**
 * Diagonal Gaussian mixtures per row, the density GIVT ("Generative Infinite-Vocabulary
 * Transformers", Tschannen et al., arXiv 2312.02116, §3.1) puts on each continuous token:
 * p(x) = Σ_k π_k Π_c N(x_c; μ_kc, σ_kc²), with π = softmax(logits). Everything is in log
 * space: log p(x) = logsumexp_k [log π_k + Σ_c log N(x_c; μ_kc, σ_kc)], where the
 * logsumexp subtracts the (gradient-stopped) row maximum before exponentiating, so a
 * far-away target gives a large finite loss instead of log 0.
 *
 * Sampling draws every random number from the caller's DrawSource: the component by an
 * exponential race (k = argmax_k log π_k − log E_k with E_k ~ Exp(1), which picks k with
 * probability π_k), then x = μ_k + σ_k·ε with ε ~ N(0, 1).
 */
import type { DrawSource, Engine, Tensor } from '@tessera/core';
export interface Mixture {
    /** Unnormalised component log-weights, [N, K]. */
    logits_NK: Tensor;
    /** Component means, [N, K, C]. */
    mu_NKC: Tensor;
    /** Component log standard deviations, [N, K, C]. */
    logScale_NKC: Tensor;
}
/** Log-sum-exp over `axis` with the maximum held constant for the gradient. */
export declare function logSumExp(F: Engine, a: Tensor, axis: number): Tensor;
/** log p(x) of M points per row, x [N, M, C] → [N, M]. */
export declare function logDensity(F: Engine, mix: Mixture, x_NMC: Tensor): Tensor;
/**
 * The tempered mixture: weights π^(1/τ) (logits / τ) and every component's density raised
 * to 1/τ, which for a Gaussian is the same mean with σ·√τ. For one component this is
 * exactly p^(1/τ); for a mixture it is the usual component-wise approximation.
 */
export declare function temper(F: Engine, mix: Mixture, temperature: number): Mixture;
/** M independent draws per row, [N, M, C]; draws: exponential [N, M, K], then normal [N, M, C]. */
export declare function sampleMixture(F: Engine, mix: Mixture, M: number, draws: DrawSource): Tensor;
/**
 * One draw per row from the guided density p_s(x) ∝ p_c(x)^s · p_u(x)^(1−s), GIVT's
 * distribution-based CFG (mixing in log-density space: log p_s = s·log p_c − (s−1)·log p_u
 * + const). It is not a mixture, so it is sampled by sampling–importance–resampling:
 * M candidates from p_c, importance weights p_s/p_c ∝ exp((s−1)(log p_c − log p_u)),
 * one candidate chosen by an exponential race on those weights. Exact as M → ∞.
 * Draws: those of `sampleMixture` for the candidates, then exponential [N, M].
 */
export declare function sampleGuided(F: Engine, cond: Mixture, uncond: Mixture, scale: number, M: number, draws: DrawSource): Tensor;
/** The mean of each row's heaviest component, [N, C] (greedy decoding; no draws). */
export declare function heaviestMean(F: Engine, mix: Mixture): Tensor;
//# sourceMappingURL=mixture.d.ts.map