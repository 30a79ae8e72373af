import { expect } from 'chai';
import { ReplayDraws, RecordedDraw } from '@tessera/core';
import {
  applyTemperature_, argmaxRows, cfgAt, drawByExponentialRace, gumbelSmoothWeights, mixGuidance, sampleTokens_, smoothTau,
  softmaxRows, stepRatio, topKFilter_, topPFilter_,
} from '@tessera/head-categorical';
import { expectCode } from '../helpers';

const NEG = -Infinity;
const rows = (...xs: number[][]): Float32Array => Float32Array.from(xs.flat());
const logs = (...ps: number[]): number[] => ps.map(Math.log);
const draw = (name: string, shape: number[], values: number[]): RecordedDraw => ({ name, tensor: { dtype: 'float32', shape, data: Float32Array.from(values) } });


describe('head-categorical sampling', () => {
  describe('topKFilter_', () => {
    it('removes entries strictly below the k-th largest and keeps ties', () => {
      expect([...topKFilter_(rows([1, 3, 3, 2, 0]), 5, 2)]).to.deep.equal([NEG, 3, 3, NEG, NEG]);
      expect([...topKFilter_(rows([1, 3, 3, 2, 0]), 5, 1)]).to.deep.equal([NEG, 3, 3, NEG, NEG]);
      expect([...topKFilter_(rows([1, 3, 3, 2, 0]), 5, 3)]).to.deep.equal([NEG, 3, 3, 2, NEG]);
    });

    it('works per row, in place, and k = V keeps everything', () => {
      const x = rows([0, 1, 2], [5, 4, 3]);
      const y = topKFilter_(x, 3, 2);
      expect(y).to.equal(x);
      expect([...x]).to.deep.equal([NEG, 1, 2, 5, 4, NEG]);
      expect([...topKFilter_(rows([0, 1, 2]), 3, 3)]).to.deep.equal([0, 1, 2]);
    });

    it('refuses k outside [1, V] (null, not 0, turns it off)', () => {
      expectCode(() => topKFilter_(rows([0, 1]), 2, 0), 'CONFIG_INVALID');
      expectCode(() => topKFilter_(rows([0, 1]), 2, 3), 'CONFIG_INVALID');
      expectCode(() => topKFilter_(rows([0, 1]), 2, 1.5), 'CONFIG_INVALID');
    });
  });

  describe('topPFilter_', () => {
    it('removes the low tail whose cumulative mass is ≤ 1 − p', () => {
      const probs = [0.5, 0.3, 0.15, 0.05];
      const kept = (p: number): boolean[] => [...topPFilter_(rows(logs(...probs)), 4, p)].map((v) => v !== NEG);
      expect(kept(0.75)).to.deep.equal([true, true, false, false]); // cumulative .05, .20 ≤ .25
      expect(kept(0.9)).to.deep.equal([true, true, true, false]); // .05 ≤ .1
      expect(kept(1)).to.deep.equal([true, true, true, true]);
    });

    it('always keeps the largest entry', () => {
      expect([...topPFilter_(rows(logs(0.5, 0.3, 0.15, 0.05)), 4, 0.01)].map((v) => v !== NEG)).to.deep.equal([true, false, false, false]);
    });

    it('runs on what top-k left (top-k first, then top-p renormalised)', () => {
      const x = rows(logs(0.4, 0.3, 0.2, 0.1));
      // Alone, top-p 0.75 keeps .4 .3 .2 (cumulative .1 ≤ .25 < .3).
      expect([...topPFilter_(Float32Array.from(x), 4, 0.75)].map((v) => v !== NEG)).to.deep.equal([true, true, true, false]);
      // After top-k 3 the row renormalises to .444 .333 .222, and .222 ≤ .25 goes too.
      const r = sampleTokens_(Float32Array.from(x), 4, { topK: 3, topP: 0.75, greedy: true }, new ReplayDraws([]));
      expect([...r.filtered_RV].map((v) => v !== NEG)).to.deep.equal([true, true, false, false]);
      expect(r.probs_RV[0]).to.be.closeTo(4 / 7, 1e-6);
      expect(r.probs_RV[2]).to.equal(0);
    });

    it('refuses p outside (0, 1]', () => {
      expectCode(() => topPFilter_(rows([0, 1]), 2, 0), 'CONFIG_INVALID');
      expectCode(() => topPFilter_(rows([0, 1]), 2, 1.5), 'CONFIG_INVALID');
    });
  });

  it('softmaxRows gives −∞ probability 0 and rows sum to 1', () => {
    const p = softmaxRows(rows([0, Math.log(3), NEG], [1, 1, 1]), 3);
    expect(p[0]).to.be.closeTo(0.25, 1e-7);
    expect(p[1]).to.be.closeTo(0.75, 1e-7);
    expect(p[2]).to.equal(0);
    expect(p[3] + p[4] + p[5]).to.be.closeTo(1, 1e-6);
  });

  it('argmaxRows takes the first maximum', () => {
    expect([...argmaxRows(rows([1, 3, 3], [NEG, NEG, 0]), 3)]).to.deep.equal([1, 2]);
  });

  describe('drawByExponentialRace', () => {
    it('picks argmax π/q with one Exp(1) draw per vocabulary entry', () => {
      const draws = new ReplayDraws([draw('noise.000.exp_q', [2, 3], [0.05, 1, 1, 1, 1, 0.01])]);
      const idx = drawByExponentialRace(rows([0.1, 0.6, 0.3], [0.2, 0.7, 0.1]), 3, draws);
      expect([...idx]).to.deep.equal([0, 2]); // ratios (2, .6, .3) and (.2, .7, 10)
      expect(draws.remaining).to.equal(0);
    });

    it('never picks a removed entry', () => {
      const draws = new ReplayDraws([draw('q', [1, 3], [1e-30, 1, 1])]);
      expect([...drawByExponentialRace(rows([0, 0.5, 0.5]), 3, draws)]).to.deep.equal([1]);
    });
  });

  describe('sampleTokens_', () => {
    it('greedy takes the argmax of the filtered logits and draws nothing', () => {
      const r = sampleTokens_(rows([0, 2, 1], [3, NEG, 3]), 3, { greedy: true }, new ReplayDraws([]));
      expect([...r.idx_R]).to.deep.equal([1, 0]);
    });

    it('draws the token first, then the Gumbel noise (smooth)', () => {
      const draws = new ReplayDraws([
        draw('noise.000.exp_q', [1, 3], [1, 1, 0.001]),
        draw('noise.001.gumbel_exp', [1, 3], [1, 1, 1]),
      ]);
      const r = sampleTokens_(rows([0, 1, 2]), 3, { topK: 2, smooth: true, ratio: 0 }, draws);
      expect(draws.remaining).to.equal(0);
      expect([...r.idx_R]).to.deep.equal([2]);
      // e = 1 gives zero Gumbel noise: weights = softmax(filtered / τ(0)) over the two survivors.
      const w = r.smoothWeights_RV as Float32Array;
      expect(w[0]).to.equal(0);
      expect(w[2]).to.be.closeTo(1 / (1 + Math.exp(-1 / 0.27)), 1e-6);
    });

    it('smooth without the step progress is refused', () => {
      const draws = new ReplayDraws([draw('q', [1, 2], [1, 1]), draw('e', [1, 2], [1, 1])]);
      expectCode(() => sampleTokens_(rows([0, 1]), 2, { smooth: true }, draws), 'USAGE');
    });

    it('a replay out of step fails loudly', () => {
      const draws = new ReplayDraws([draw('q', [1, 4], [1, 1, 1, 1])]);
      expectCode(() => sampleTokens_(rows([0, 1, 2]), 3, {}, draws), 'DRAW_MISMATCH');
    });
  });

  it('applyTemperature_ divides in place and leaves T = 1 untouched', () => {
    expect([...applyTemperature_(rows([1, -2, NEG]), 2)]).to.deep.equal([0.5, -1, NEG]);
    const x = rows([0.1]);
    expect(applyTemperature_(x, 1)[0]).to.equal(x[0]);
    expectCode(() => applyTemperature_(rows([1]), 0), 'CONFIG_INVALID');
  });

  describe('guidance', () => {
    it('mixGuidance computes (1 + t)·cond − t·uncond with t = scale − 1', () => {
      // rows: cond [1, 2], [0, 0]; uncond [3, -1], [1, 1]
      const mixed = mixGuidance(rows([1, 2], [0, 0], [3, -1], [1, 1]), 2, 2.5);
      expect([...mixed]).to.deep.equal([2.5 - 4.5, 5 + 1.5, -1.5, -1.5]);
      expect([...mixGuidance(rows([1, 2], [3, -1]), 2, 1)]).to.deep.equal([1, 2]);
    });

    it('mixGuidance refuses an odd number of rows', () => {
      expectCode(() => mixGuidance(rows([1, 2], [3, 4], [5, 6]), 2, 2), 'SHAPE_MISMATCH');
    });

    it('cfgAt ramps linearly from 1 to cfg over the steps (VAR) or stays constant', () => {
      expect(cfgAt(0, 10, 2.5, 'linear')).to.equal(1);
      expect(cfgAt(9, 10, 2.5, 'linear')).to.equal(2.5);
      expect(cfgAt(3, 10, 2.5, 'linear')).to.be.closeTo(1 + 1.5 / 3, 1e-15);
      expect(cfgAt(0, 10, 4, 'constant')).to.equal(4);
      expect(cfgAt(0, 1, 3, 'linear')).to.equal(3);
      expectCode(() => cfgAt(10, 10, 2, 'linear'), 'USAGE');
    });

    it('stepRatio and the smoothing temperature follow VAR', () => {
      expect(stepRatio(2, 5)).to.equal(0.5);
      expect(smoothTau(0)).to.equal(0.27);
      expect(smoothTau(1)).to.be.closeTo(0.27 * 0.05, 1e-15);
    });
  });

  it('gumbelSmoothWeights matches softmax((x·(1 + r) − ln e) / τ)', () => {
    const x = [0.3, -1.2, NEG, 2.0];
    const e = [0.5, 2.0, 0.7, 1.3];
    const ratio = 0.4;
    const w = gumbelSmoothWeights(rows(x), 4, ratio, new ReplayDraws([draw('g', [1, 4], e)]));
    const tau = Math.max(0.27 * (1 - 0.95 * ratio), 0.005);
    const y = x.map((v, i) => (v * (1 + ratio) - Math.log(e[i])) / tau);
    const m = Math.max(...y);
    const z = y.map((v) => Math.exp(v - m));
    const s = z.reduce((a, b) => a + b, 0);
    z.forEach((v, i) => expect(w[i]).to.be.closeTo(v / s, 1e-5));
    expect(w[2]).to.equal(0);
  });
});
