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

const LOG_2PI = Math.log(2 * Math.PI);

/** Log-sum-exp over `axis` with the maximum held constant for the gradient. */
export function logSumExp(F: Engine, a: Tensor, axis: number): Tensor {
  const m = F.stopGradient(F.max(a, axis, true));
  return F.squeeze(F.add(m, F.log(F.sum(F.exp(F.sub(a, m)), axis, true))), [axis]);
}

/** log p(x) of M points per row, x [N, M, C] → [N, M]. */
export function logDensity(F: Engine, mix: Mixture, x_NMC: Tensor): Tensor {
  const [N, K, C] = mix.mu_NKC.shape;
  const M = x_NMC.shape[1];
  const x_NM1C = F.reshape(x_NMC, [N, M, 1, C]);
  const mu_N1KC = F.reshape(mix.mu_NKC, [N, 1, K, C]);
  const logScale_N1KC = F.reshape(mix.logScale_NKC, [N, 1, K, C]);
  const z_NMKC = F.mul(F.sub(x_NM1C, mu_N1KC), F.exp(F.neg(logScale_N1KC)));
  // Σ_c log N(x_c; μ, σ) = −½ Σ_c z² − Σ_c log σ − ½ C log 2π
  const logNormal_NMK = F.sub(F.add(F.mul(F.sum(F.square(z_NMKC), 3), -0.5), F.neg(F.sum(logScale_N1KC, 3))), 0.5 * C * LOG_2PI);
  const logPi_N1K = F.reshape(F.logSoftmax(mix.logits_NK, -1), [N, 1, K]);
  return logSumExp(F, F.add(logPi_N1K, logNormal_NMK), 2);
}

/**
 * The tempered mixture: weights π^(1/τ) (logits / τ) and every component's density raised
 * to 1/τ, which for a Gaussian is the same mean with σ·√τ. For one component this is
 * exactly p^(1/τ); for a mixture it is the usual component-wise approximation.
 */
export function temper(F: Engine, mix: Mixture, temperature: number): Mixture {
  if (temperature === 1) return mix;
  return {
    logits_NK: F.div(mix.logits_NK, temperature),
    mu_NKC: mix.mu_NKC,
    logScale_NKC: F.add(mix.logScale_NKC, 0.5 * Math.log(temperature)),
  };
}

/** Rows of `values` [N, M, ...] picked by `index` int32 [N] (a one-hot batched matmul). */
function pick(F: Engine, values_NMC: Tensor, index_N: Tensor): Tensor {
  const [N, M, C] = values_NMC.shape;
  const oneHot_N1M = F.reshape(F.oneHot(index_N, M), [N, 1, M]);
  return F.reshape(F.matmul(oneHot_N1M, values_NMC), [N, C]); // (N, 1, M) @ (N, M, C) -> (N, C)
}

/** M independent draws per row, [N, M, C]; draws: exponential [N, M, K], then normal [N, M, C]. */
export function sampleMixture(F: Engine, mix: Mixture, M: number, draws: DrawSource): Tensor {
  const [N, K, C] = mix.mu_NKC.shape;
  const race_NMK = F.tensor(draws.exponential([N, M, K], 'gmm component race'), [N, M, K]);
  const logPi_N1K = F.reshape(F.logSoftmax(mix.logits_NK, -1), [N, 1, K]);
  const component_NM = F.argmax(F.sub(logPi_N1K, F.log(race_NMK)), 2);
  const oneHot_NMK = F.oneHot(F.reshape(component_NM, [N * M]), K);
  const select = (t_NKC: Tensor): Tensor => F.matmul(F.reshape(oneHot_NMK, [N, M, K]), t_NKC); // (N, M, K) @ (N, K, C) -> (N, M, C)
  const eps_NMC = F.tensor(draws.normal([N, M, C], 'gmm noise'), [N, M, C]);
  return F.add(select(mix.mu_NKC), F.mul(F.exp(select(mix.logScale_NKC)), eps_NMC));
}

/**
 * One draw per row from the guided density p_s(x) ∝ p_c(x)^s · p_u(x)^(1−s), GIVT's
 * distribution-based CFG (mixing in log-density space: log p_s = s·log p_c − (s−1)·log p_u
 * + const). It is not a mixture, so it is sampled by sampling–importance–resampling:
 * M candidates from p_c, importance weights p_s/p_c ∝ exp((s−1)(log p_c − log p_u)),
 * one candidate chosen by an exponential race on those weights. Exact as M → ∞.
 * Draws: those of `sampleMixture` for the candidates, then exponential [N, M].
 */
export function sampleGuided(F: Engine, cond: Mixture, uncond: Mixture, scale: number, M: number, draws: DrawSource): Tensor {
  const [N] = cond.logits_NK.shape;
  const candidates_NMC = sampleMixture(F, cond, M, draws);
  const logWeight_NM = F.mul(F.sub(logDensity(F, cond, candidates_NMC), logDensity(F, uncond, candidates_NMC)), scale - 1);
  const race_NM = F.tensor(draws.exponential([N, M], 'gmm cfg resampling'), [N, M]);
  const chosen_N = F.argmax(F.sub(logWeight_NM, F.log(race_NM)), 1);
  return pick(F, candidates_NMC, chosen_N);
}

/** The mean of each row's heaviest component, [N, C] (greedy decoding; no draws). */
export function heaviestMean(F: Engine, mix: Mixture): Tensor {
  const [N, K, C] = mix.mu_NKC.shape;
  const k_N = F.argmax(mix.logits_NK, 1);
  return F.reshape(F.matmul(F.reshape(F.oneHot(k_N, K), [N, 1, K]), mix.mu_NKC), [N, C]); // (N, 1, K) @ (N, K, C)
}
