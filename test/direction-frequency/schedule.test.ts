/** FAR's per-step schedules and its frequency filter (spec/far.md §1-3). */
import { expect } from 'chai';
import { frequencyFilter, TfjsEngine } from '@tessera/core';
import { levelLossWeight, lowPass, stepCfg, stepMaskLength, stepTemperature } from '@tessera/direction-frequency';

describe('direction-frequency/schedule', () => {
  it('ramps guidance linearly from 1 without reaching cfg, or keeps it constant', () => {
    expect([0, 5, 9].map((s) => stepCfg(3, 'linear', s, 10))).to.deep.equal([1, 2, 1 + 2 * 9 / 10]);
    expect(stepCfg(3, 'constant', 4, 10)).to.equal(3);
  });

  it('has the official temperature schedules', () => {
    // nomask: 0.8 + (1 − cos(π/2·(s+1)/K))·(1 − 0.8), 0.8025 ... 1.0 at temperature 1
    expect(stepTemperature(1, 'cosine', 0, 10)).to.equal(0.8 + (1 - Math.cos((Math.PI / 2) * (1 / 10))) * (1 - 0.8));
    expect(stepTemperature(1, 'cosine', 9, 10)).to.be.closeTo(1, 1e-12);
    // mask: 0.85 → temperature, linear in s/K
    expect(stepTemperature(1.0, 'linear', 0, 11)).to.equal(0.85);
    expect(stepTemperature(0.95, 'linear', 5, 10)).to.be.closeTo(0.9, 1e-12);
    expect(stepTemperature(0.7, 'constant', 3, 10)).to.equal(0.7);
  });

  it('unmasks on an unclamped cosine schedule, all tokens at the last step', () => {
    expect(stepMaskLength(256, 0, 11)).to.equal(Math.floor(256 * Math.cos(Math.PI / 22)));
    expect(stepMaskLength(256, 10, 11)).to.equal(0);
  });

  it('weights levels by 1 + sin(π/2·(k+1)/H)', () => {
    expect(levelLossWeight(15, 16)).to.equal(2);
    expect(levelLossWeight(0, 16)).to.be.closeTo(1.0980171403295607, 1e-12);
  });

  it('low-passes exactly as core\'s frequency filter, through any pyramid', async () => {
    const F = await TfjsEngine.create();
    const pyramid = { down: (x: never, s: [number, number]) => F.interpolate(x, s, 'area'), up: (x: never, s: [number, number]) => F.interpolate(x, s, 'bicubic') };
    const x = F.tensor(Float32Array.from({ length: 2 * 3 * 12 * 12 }, (_, i) => Math.sin(i * 0.37)), [2, 3, 12, 12]);
    for (const k of [0, 1, 5, 7, 12]) {
      const a = lowPass(F, pyramid, x, k);
      const b = F.tidy(() => frequencyFilter(F, x, k));
      expect(Array.from(F.readSync(a)), `level ${k}`).to.deep.equal(Array.from(F.readSync(b)));
      F.dispose([a, b]);
    }
    F.dispose(x);
  });
});
