import { expect } from 'chai';
import { Engine, isTesseraError, TfjsEngine, toFloat32, toInt32 } from '@tessera/core';
import { batchMeanOfWeightedSums, crossEntropy, weightedMean } from '@tessera/head-categorical';
import { casesOfKind, firstOutOfTolerance } from './fixtures';

/** −(1 − ε)·log p(t) − (ε / V)·Σ log p, in double precision. */
function handCrossEntropy(logits: number[], target: number, eps: number): number {
  const m = Math.max(...logits);
  const lse = m + Math.log(logits.reduce((s, v) => s + Math.exp(v - m), 0));
  const logp = logits.map((v) => v - lse);
  return -(1 - eps) * logp[target] - (eps / logits.length) * logp.reduce((a, b) => a + b, 0);
}

describe('head-categorical loss', () => {
  let F: Engine;
  before(async () => { F = await TfjsEngine.create(); });

  const logits = [[1, 2, 3, -1], [0, 0, 0, 0], [0.5, -2, 4, 1]];
  const target = [2, 0, 3];

  for (const eps of [0, 0.1]) {
    it(`crossEntropy matches a hand computation (ε = ${eps})`, () => {
      const before = F.liveTensors();
      const x = F.tensor(Float32Array.from(logits.flat()), [3, 4]);
      const t = F.tensor(Int32Array.from(target), [3], 'int32');
      const ce = crossEntropy(F, x, t, eps);
      const got = F.readSync(ce);
      logits.forEach((row, i) => expect(got[i]).to.be.closeTo(handCrossEntropy(row, target[i], eps), 1e-5));
      F.dispose([x, t, ce]);
      expect(F.liveTensors()).to.equal(before);
    });
  }

  it('weightedMean is Σ w·ℓ / Σ w, and the plain mean without weights', () => {
    const l = F.tensor(Float32Array.from([1, 2, 4]), [3]);
    const w = F.tensor(Int32Array.from([1, 0, 3]), [3], 'int32');
    const a = weightedMean(F, l, w);
    const b = weightedMean(F, l, undefined);
    expect(F.readSync(a)[0]).to.be.closeTo((1 + 12) / 4, 1e-6);
    expect(F.readSync(b)[0]).to.be.closeTo(7 / 3, 1e-6);
    F.dispose([l, w, a, b]);
  });

  it('VAR weights 1/L give VAR\'s mean over batch of Σ_t ℓ / L', () => {
    const ce = [0.5, 1.5, 2.0, 3.0, 0.25, 0.75]; // B = 2, L = 3
    const l = F.tensor(Float32Array.from(ce), [6]);
    const w = F.full([6], 1 / 3);
    const loss = weightedMean(F, l, w);
    const varLoss = ((0.5 + 1.5 + 2) / 3 + (3 + 0.25 + 0.75) / 3) / 2;
    expect(F.readSync(loss)[0]).to.be.closeTo(varLoss, 1e-6);
    F.dispose([l, w, loss]);
  });

  it('reproduces VAR\'s per-token CE and loss of the var.train.loss cases (progressive stages too)', () => {
    const cases = casesOfKind('var.train.loss');
    expect(cases.length).to.be.at.least(1);
    for (const c of cases) {
      const logits = c.tensors.get(c.manifest.outputs.logits_BLV)!;
      const [B, L, V] = logits.shape;
      const patchNums = c.config<number[]>('var.patch_nums');
      const progSi = c.config<number>('call.prog_si');
      // targets: the scales' tokens concatenated, truncated to the trained length; VAR's weights 1/L_full,
      // damped by prog_wp on the newest scale of a progressive stage
      const gt = new Int32Array(B * L);
      const w = new Float32Array(L);
      let begin = 0;
      patchNums.forEach((pn, k) => {
        const l = pn * pn;
        if (begin >= L) return;
        const idx = toInt32(c.input(`gt_idx.s${k}`));
        for (let j = 0; j < l && begin + j < L; j++) {
          for (let b = 0; b < B; b++) gt[b * L + begin + j] = idx[b * l + j];
          w[begin + j] = (1 / c.config<number>('var.L')) * (k === progSi ? c.config<number>('call.prog_wp') : 1);
        }
        begin += l;
      });
      const { atol, rtol } = c.manifest.tolerance;
      const wantCe = toFloat32(c.tensors.get(c.manifest.outputs.ce_BL)!);
      const wantLoss = toFloat32(c.tensors.get(c.manifest.outputs.loss)!);
      F.tidy(() => {
        const x = F.reshape(F.fromHost(logits), [B * L, V]);
        const ce = crossEntropy(F, x, F.tensor(gt, [B * L], 'int32'), c.config<number>('call.label_smooth'));
        const weights = F.tensor(w, [L]);
        const loss = batchMeanOfWeightedSums(F, F.reshape(ce, [B, L]), weights);
        expect(firstOutOfTolerance(F.readSync(ce), wantCe, atol, rtol), c.file).to.equal(-1);
        expect(firstOutOfTolerance(F.readSync(loss), wantLoss, atol, rtol), c.file).to.equal(-1);
        if (progSi < 0) {
          // full sequences: the contract's weighted mean gives the same number
          const mean = weightedMean(F, ce, F.reshape(F.tile(F.expandDims(weights, 0), [B, 1]), [B * L]));
          expect(firstOutOfTolerance(F.readSync(mean), wantLoss, atol, rtol), c.file).to.equal(-1);
        }
      });
    }
  });

  it('refuses mismatched shapes', () => {
    const x = F.zeros([3, 4]);
    const t = F.zeros([2], 'int32');
    const w = F.zeros([2]);
    const ce = F.zeros([3]);
    for (const fn of [() => crossEntropy(F, x, t), () => weightedMean(F, ce, w)]) {
      try {
        fn();
        expect.fail('expected an error');
      } catch (e) {
        expect(isTesseraError(e, 'SHAPE_MISMATCH'), String(e)).to.equal(true);
      }
    }
    F.dispose([x, t, w, ce]);
  });
});
