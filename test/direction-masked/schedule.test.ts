/** MAR's sampling schedules (spec/mar.md §6, §9.3). */
import { expect } from 'chai';
import { iterationCfg, iterationPlan, maskByOrder, maskedCount, nextMaskLength, positionsToPredict } from '@tessera/direction-masked';

describe('direction-masked/schedule', () => {
  it('follows the cosine schedule, clamped to at least one new and one remaining token', () => {
    // L = 16, T = 4: floor(16·cos(π/8)) = 14, floor(16·cos(π/4)) = 11, floor(16·cos(3π/8)) = 6, cos(π/2) → clamp to 1
    expect([0, 1, 2, 3].map((s) => nextMaskLength(16, s, 4, 16))).to.deep.equal([14, 11, 6, 1]);
    expect(nextMaskLength(16, 0, 4, 3)).to.equal(2); // never more than masked − 1
    expect(nextMaskLength(256, 255, 256, 2)).to.equal(1); // never less than 1
  });

  it('plans every token exactly once, even with more iterations than tokens', () => {
    for (const [L, T] of [[16, 4], [16, 16], [16, 40], [256, 64], [9, 1]]) {
      const plan = iterationPlan(L, T);
      expect(plan).to.have.length(T);
      expect(plan.reduce((n, p) => n + p.predicted, 0), `L ${L} T ${T}`).to.equal(L);
    }
    expect(iterationPlan(16, 4).map((p) => p.predicted)).to.deep.equal([2, 3, 5, 6]);
  });

  it('masks the first n positions of each order and predicts what leaves the mask (everything left at the end)', () => {
    const orders = Int32Array.from([2, 0, 1, 3, 3, 1, 0, 2]);
    const mask = maskByOrder(orders, 2, 4, 3);
    expect(Array.from(mask)).to.deep.equal([1, 1, 1, 0, 1, 1, 0, 1]);
    expect(maskedCount(mask, 4)).to.equal(3);
    const next = maskByOrder(orders, 2, 4, 1);
    expect(Array.from(positionsToPredict(mask, next, false))).to.deep.equal([0, 1, 4, 5]);
    expect(Array.from(positionsToPredict(mask, next, true))).to.deep.equal([0, 1, 2, 4, 5, 7]);
  });

  it('computes the linear guidance in float32 from the clamped mask length, and keeps constant guidance', () => {
    expect(iterationCfg(3, 'linear', 16, 14)).to.equal(Math.fround(1 + Math.fround(Math.fround(2 * 2) / 16)));
    expect(iterationCfg(3, 'linear', 16, 1)).to.equal(Math.fround(1 + Math.fround(30 / 16))); // the last step never reaches cfg
    expect(iterationCfg(2.9, 'constant', 256, 100)).to.equal(2.9);
  });
});
