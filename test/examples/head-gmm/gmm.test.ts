/**
 * The GMM head's mathematics (examples/tessera-plugin-head-gmm/src/mixture.ts): the mixture
 * log-density against a direct float64 computation, the tempered sampler's moments, and
 * distribution-based CFG (for cond N(1, 1) and uncond N(0, 1), p_c^s·p_u^(1−s) is N(s, 1)).
 */
import { expect } from 'chai';
import { DrawSource, Engine, SeededDraws, Tensor, TfjsEngine } from '@tessera/core';
import { GMM_DIR, loadGmm } from './load';

loadGmm();
interface Mixture { logits_NK: Tensor; mu_NKC: Tensor; logScale_NKC: Tensor }
/** The example's exports used here (its own types live outside the test project). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const gmm = require(GMM_DIR) as {
  logDensity(F: Engine, m: Mixture, x_NMC: Tensor): Tensor;
  temper(F: Engine, m: Mixture, temperature: number): Mixture;
  sampleMixture(F: Engine, m: Mixture, M: number, draws: DrawSource): Tensor;
  sampleGuided(F: Engine, cond: Mixture, uncond: Mixture, scale: number, M: number, draws: DrawSource): Tensor;
};

describe('examples/tessera-plugin-head-gmm: mixture', () => {
  let F: Engine;
  before(async () => { F = await TfjsEngine.create(); });

  const mixture = (logits: number[][], mu: number[][][], logScale: number[][][]) => ({
    logits_NK: F.tensor(logits.flat(), [logits.length, logits[0].length]),
    mu_NKC: F.tensor(mu.flat(2), [mu.length, mu[0].length, mu[0][0].length]),
    logScale_NKC: F.tensor(logScale.flat(2), [mu.length, mu[0].length, mu[0][0].length]),
  });
  const dispose = (m: Mixture) => F.dispose(Object.values(m));

  it('computes log p(x) of a diagonal mixture, stably far from every component', () => {
    const logits = [[0.3, -1, 2]], mu = [[[0, 1], [2, -1], [-3, 0.5]]], logScale = [[[0, -0.5], [0.2, 0.1], [-1, 0]]];
    const m = mixture(logits, mu, logScale);
    const points = [[0.5, 0.25], [40, -40]];
    const x = F.tensor(points.flat(), [1, 2, 2]);
    const got = Array.from(F.readSync(gmm.logDensity(F, m, x)));
    const lse = (a: number[]) => { const mx = Math.max(...a); return mx + Math.log(a.reduce((s, v) => s + Math.exp(v - mx), 0)); };
    const logPi = logits[0].map((l) => l - lse(logits[0]));
    points.forEach(([a, b], i) => {
      const terms = logPi.map((lp, k) => lp + [a, b].reduce((s, v, c) => s - 0.5 * ((v - mu[0][k][c]) / Math.exp(logScale[0][k][c])) ** 2 - logScale[0][k][c] - 0.5 * Math.log(2 * Math.PI), 0));
      expect(got[i]).to.be.closeTo(lse(terms), 1e-3 * Math.max(1, Math.abs(lse(terms))));
    });
    dispose(m);
    F.dispose(x);
  });

  it('samples a tempered component with mean μ and standard deviation σ·√τ', () => {
    const N = 4000;
    const m = mixture(Array(N).fill([0]), Array(N).fill([[1.5]]), Array(N).fill([[Math.log(0.5)]]));
    const t = gmm.temper(F, m, 0.64);
    const x = Array.from(F.readSync(gmm.sampleMixture(F, t, 1, SeededDraws.fromSeed(3))));
    const mean = x.reduce((a, b) => a + b, 0) / N;
    const std = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / N);
    expect(mean).to.be.closeTo(1.5, 0.03);
    expect(std).to.be.closeTo(0.5 * 0.8, 0.02);
    dispose(m);
  });

  it('picks components in proportion to their weights', () => {
    const N = 4000;
    const m = mixture(Array(N).fill([Math.log(0.2), Math.log(0.8)]), Array(N).fill([[-10], [10]]), Array(N).fill([[-5], [-5]]));
    const x = Array.from(F.readSync(gmm.sampleMixture(F, m, 1, SeededDraws.fromSeed(4))));
    expect(x.filter((v) => v > 0).length / N).to.be.closeTo(0.8, 0.03);
    dispose(m);
  });

  it('guides in log-density space: N(1, 1) against N(0, 1) at scale s gives N(s, 1)', () => {
    const N = 600, s = 2;
    const cond = mixture(Array(N).fill([0]), Array(N).fill([[1]]), Array(N).fill([[0]]));
    const uncond = mixture(Array(N).fill([0]), Array(N).fill([[0]]), Array(N).fill([[0]]));
    const x = Array.from(F.readSync(gmm.sampleGuided(F, cond, uncond, s, 64, SeededDraws.fromSeed(5))));
    const mean = x.reduce((a, b) => a + b, 0) / N;
    expect(mean).to.be.closeTo(s, 0.15);
    dispose(cond);
    dispose(uncond);
  });
});
