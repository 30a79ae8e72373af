/**
 * The fast top-p (packed-key native sort, early stop) and softmax (−∞ entries skipped)
 * against straightforward references written as the official code reads: results must
 * be bit-identical, ties, ±0 and removed entries included.
 */
import { expect } from 'chai';
import { Rng } from '@tessera/core';
import { softmaxRows, topKFilter_, topPFilter_ } from '@tessera/head-categorical';

const f32 = Math.fround;

function referenceSoftmax(x_V: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of x_V) if (v > max) max = v;
  const out = new Float32Array(x_V.length);
  let sum = 0;
  for (let v = 0; v < x_V.length; v++) {
    out[v] = f32(Math.exp(f32(x_V[v] - max)));
    sum += out[v];
  }
  const inv = f32(1 / f32(sum));
  for (let v = 0; v < x_V.length; v++) out[v] = f32(out[v] * inv);
  return out;
}

function referenceTopP(x_RV: Float32Array, V: number, p: number): Float32Array {
  const threshold = f32(1 - p);
  for (let o = 0; o < x_RV.length; o += V) {
    const live = [...Array(V).keys()].filter((v) => x_RV[o + v] !== -Infinity);
    live.sort((i, j) => x_RV[o + i] - x_RV[o + j] || i - j);
    const probs = referenceSoftmax(Float32Array.from(live.map((v) => x_RV[o + v])));
    let cumulative = 0;
    for (let v = 0; v < live.length - 1; v++) {
      cumulative += probs[v];
      if (f32(cumulative) <= threshold) x_RV[o + live[v]] = -Infinity;
    }
  }
  return x_RV;
}

/** Rows with many ties (values on a coarse grid), signed zeros and a few −∞ entries. */
function awkwardRows(R: number, V: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(R * V);
  for (let i = 0; i < x.length; i++) {
    const u = rng.uniform();
    x[i] = u < 0.05 ? -Infinity : u < 0.1 ? -0 : u < 0.15 ? 0 : f32(Math.round(rng.normal() * 8) / 4);
  }
  return x;
}

describe('head-categorical fast sampling paths', () => {
  for (const [V, p] of [[7, 0.5], [64, 0.9], [300, 0.96], [1000, 0.3]] as const) {
    it(`top-p equals the comparator-sort reference bit for bit (V ${V}, p ${p})`, () => {
      const x = awkwardRows(12, V, V);
      expect(Array.from(topPFilter_(x.slice(), V, p))).to.deep.equal(Array.from(referenceTopP(x.slice(), V, p)));
      const k = Math.max(1, Math.floor(V / 3));
      const afterK = topKFilter_(x.slice(), V, k);
      expect(Array.from(topPFilter_(afterK.slice(), V, p))).to.deep.equal(Array.from(referenceTopP(afterK.slice(), V, p)));
    });
  }

  it('softmax over rows with removed entries equals the reference', () => {
    const V = 50;
    const x = awkwardRows(8, V, 5);
    x.fill(-Infinity, 0, V); // an all-removed row keeps its NaNs, as torch's
    const got = softmaxRows(x, V);
    for (let o = 0; o < x.length; o += V) {
      expect(Array.from(got.subarray(o, o + V))).to.deep.equal(Array.from(referenceSoftmax(x.subarray(o, o + V))));
    }
  });
});
