/** φ selection and sharing layouts (packages/tokenizer-msvq/src/phi.ts; spec/var.md §3.2–3.3). */
import { expect } from 'chai';
import { type Engine, Rng, TfjsEngine, isTesseraError } from '@tessera/core';
import { PhiBank, phiIndex, phiSharing, phiTicks } from '@tessera/tokenizer-msvq';

describe('tokenizer-msvq phi', () => {
  let F: Engine;
  before(async () => { F = await TfjsEngine.create(); });

  it('builds the ticks as numpy.linspace does, 1/3 spacing only for K = 4', () => {
    expect(phiTicks(4)[0]).to.equal(1 / 3 / 4);
    expect(phiTicks(4)[3]).to.equal(1 - 1 / 3 / 4);
    expect(phiTicks(2)).to.deep.equal([0.25, 0.75]);
    expect(phiTicks(1)).to.deep.equal([0.5]);
  });

  it('reproduces the official tie-breaks of the spec table (K = 4)', () => {
    const table: Record<number, number[]> = {
      4: [0, 1, 2, 3],
      5: [0, 1, 2, 2, 3],
      6: [0, 0, 1, 2, 3, 3],
      7: [0, 0, 1, 2, 2, 3, 3],
      10: [0, 0, 1, 1, 1, 2, 2, 3, 3, 3],
      13: [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3],
      14: [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3],
    };
    for (const [SN, want] of Object.entries(table)) {
      expect(want.map((_, si) => phiIndex(4, si, Number(SN))), `SN=${SN}`).to.deep.equal(want);
    }
  });

  it('uses the first φ for a single scale instead of dividing by zero', () => {
    expect(phiIndex(4, 0, 1)).to.equal(0);
  });

  it('lays out parameters under the official keys of each sharing mode', () => {
    const keys = (share: number, ratio = 0.5): string[] => new PhiBank(F, 4, ratio, phiSharing(share, 0, 5)).namedParameters().map(([k]) => k);
    expect(keys(4)).to.deep.equal(['qresi_ls.0.weight', 'qresi_ls.0.bias', 'qresi_ls.1.weight', 'qresi_ls.1.bias', 'qresi_ls.2.weight', 'qresi_ls.2.bias', 'qresi_ls.3.weight', 'qresi_ls.3.bias']);
    expect(keys(1)).to.deep.equal(['qresi.weight', 'qresi.bias']);
    expect(keys(0)).to.have.length(10);
    expect(keys(0)[8]).to.equal('4.weight');
    expect(new PhiBank(F, 4, 0.5, phiSharing(0, 3, 5)).namedParameters()).to.have.length(6);
    expect(keys(4, 0)).to.deep.equal([]);
    expect(keys(4, -1e-7)).to.deep.equal([]);
  });

  it('mixes (1 − |r|)·h + |r|·conv(h), and is the identity when r is 0', () => {
    const bank = new PhiBank(F, 2, -0.25, phiSharing(1, 0, 3)).initialize(new Rng(1));
    const identity = new PhiBank(F, 2, 0, phiSharing(1, 0, 3));
    F.tidy(() => {
      const h = F.tensor(Float32Array.from({ length: 2 * 2 * 3 * 3 }, (_, i) => Math.sin(i)), [2, 2, 3, 3]);
      const [w, b] = bank.namedParameters().map(([, p]) => p.value);
      const want = F.add(F.mul(h, 0.75), F.mul(F.conv2d(h, w, b, { padding: 1 }), 0.25));
      const got = F.readSync(bank.apply(h, 1, 3));
      F.readSync(want).forEach((v, i) => expect(got[i]).to.be.closeTo(v, 1e-6));
      expect(identity.apply(h, 2, 3)).to.equal(h);
    });
    bank.dispose();
  });

  it('refuses a negative share_quant_resi', () => {
    try {
      phiSharing(-1, 0, 4);
      expect.fail('should throw');
    } catch (e) {
      expect(isTesseraError(e, 'CONFIG_INVALID')).to.equal(true);
    }
  });
});
