import { expect } from 'chai';
import { isTesseraError, ReplayDraws, Rng, SeededDraws } from '@tessera/core';

describe('core/rng', () => {
  it('is deterministic per seed and resumes bit-exactly from a saved state', () => {
    const a = new Rng(7), b = new Rng(7);
    for (let i = 0; i < 10; i++) a.normal();
    for (let i = 0; i < 10; i++) b.normal();
    const state = a.getState();
    const restored = new Rng(0);
    restored.setState(state);
    const next = Array.from({ length: 5 }, () => a.normal());
    expect(Array.from({ length: 5 }, () => restored.normal())).to.deep.equal(next);
    expect(Array.from({ length: 5 }, () => b.normal())).to.deep.equal(next);
  });

  it('draws standard normals and uniforms with the right moments', () => {
    const d = SeededDraws.fromSeed(1);
    const n = d.normal([20000]);
    const mean = n.reduce((s, v) => s + v, 0) / n.length;
    const varc = n.reduce((s, v) => s + (v - mean) ** 2, 0) / n.length;
    expect(Math.abs(mean)).to.be.lessThan(0.03);
    expect(Math.abs(varc - 1)).to.be.lessThan(0.05);
    const u = d.uniform([1000]);
    expect(Math.min(...u)).to.be.at.least(0);
    expect(Math.max(...u)).to.be.lessThan(1);
    const p = d.permutation(50);
    expect([...p].sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i));
    const t = d.truncatedNormal([500], 1, 0.25, 0.5, 1);
    expect(Math.min(...t)).to.be.at.least(0.5);
    expect(Math.max(...t)).to.be.at.most(1);
  });

  it('replays recorded draws in order and fails loudly when out of step', () => {
    const draws = new ReplayDraws([
      { name: 'noise.000', tensor: { dtype: 'float32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } },
      { name: 'noise.001', tensor: { dtype: 'int64', shape: [3], data: new BigInt64Array([2n, 0n, 1n]) } },
    ], 'case');
    expect([...draws.normal([4])]).to.deep.equal([1, 2, 3, 4]);
    try {
      draws.permutation(4);
      expect.fail('should throw');
    } catch (e) {
      expect(isTesseraError(e, 'DRAW_MISMATCH')).to.equal(true);
    }
    expect([...draws.permutation(3)]).to.deep.equal([2, 0, 1]);
    try {
      draws.normal([1]);
      expect.fail('should throw');
    } catch (e) {
      expect(isTesseraError(e, 'DRAWS_EXHAUSTED')).to.equal(true);
    }
  });
});
