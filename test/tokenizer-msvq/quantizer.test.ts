/** The residual multi-scale quantizer (packages/tokenizer-msvq/src/quantizer.ts, hybrid.ts; spec/var.md §3, spec/hart.md §3.5). */
import { expect } from 'chai';
import { type Engine, Rng, TfjsEngine, isTesseraError } from '@tessera/core';
import { hybridEncode, phiSharing, ResidualQuantizer, type QuantizerConfig } from '@tessera/tokenizer-msvq';

const config = (over: Partial<QuantizerConfig> = {}): QuantizerConfig => ({
  vocabSize: 6, channels: 2, usingZnorm: false, beta: 0.25, patchNums: [1, 2, 4], quantResi: 0.5, sharing: phiSharing(4, 0, 3), hybrid: false, ...over,
});

describe('tokenizer-msvq quantizer', () => {
  let F: Engine;
  before(async () => { F = await TfjsEngine.create(); });

  it('picks the first of tied nearest codes, by L2 and by cosine', () => {
    const q = new ResidualQuantizer(F, config()).initialize(new Rng(1));
    F.tidy(() => {
      const codebook = F.tensor([3, 0, 1, 1, 1, 1, 0, 3, 2, 2, -1, -1], [6, 2]);
      const z = F.tensor([1, 1, 0.1, 3], [2, 2]);
      expect([...F.readSync(q.nearest(z, false, codebook))]).to.deep.equal([1, 3]);
      expect([...F.readSync(q.nearest(z, true, codebook))]).to.deep.equal([1, 3]); // [1,1] and [2,2] have the same direction
    });
    q.dispose();
  });

  it('keeps per-scale traces whose last reconstruction plus the final residual is the input', () => {
    const q = new ResidualQuantizer(F, config()).initialize(new Rng(2));
    F.tidy(() => {
      const f = F.tensor(Float32Array.from({ length: 2 * 2 * 16 }, (_, i) => Math.cos(i)), [2, 2, 4, 4]);
      const enc = q.encode(f);
      expect(enc.indices.map((i) => i.shape)).to.deep.equal([[2, 1], [2, 4], [2, 16]]);
      expect(enc.scales[0].restDown_BChw.shape).to.deep.equal([2, 2, 1, 1]);
      const back = F.readSync(F.add(enc.fHat_BChw, enc.rest_BChw));
      F.readSync(f).forEach((v, i) => expect(back[i]).to.be.closeTo(v, 1e-5));
      expect(q.indicesToFhat(enc.indices).map((t) => t.shape)).to.have.length(3);
    });
    q.dispose();
  });

  it('uses the scale list of the call, and refuses one whose last side is not the latent side', () => {
    const q = new ResidualQuantizer(F, config()).initialize(new Rng(3));
    F.tidy(() => {
      const f = F.ones([1, 2, 4, 4]);
      expect(q.encode(f, { patchNums: [2, 4] }).indices.map((i) => i.shape)).to.deep.equal([[1, 4], [1, 16]]);
      try {
        q.encode(f, { patchNums: [1, 2] });
        expect.fail('should throw');
      } catch (e) {
        expect(isTesseraError(e, 'SHAPE_MISMATCH')).to.equal(true);
      }
    });
    q.dispose();
  });

  it('gives an empty teacher-forcing input for a single scale', () => {
    const q = new ResidualQuantizer(F, config({ patchNums: [4], sharing: phiSharing(1, 0, 1) })).initialize(new Rng(4));
    F.tidy(() => {
      const idx = F.zeros([3, 16], 'int32');
      expect(q.teacherForcingInput([idx]).shape).to.deep.equal([3, 0, 2]);
    });
    q.dispose();
  });

  it('hybrid: the last scale adds raw codes, the residual closes the gap to f, the last-layer target is the pre-last residual', () => {
    const q = new ResidualQuantizer(F, config({ hybrid: true })).initialize(new Rng(5));
    F.tidy(() => {
      const f = F.tensor(Float32Array.from({ length: 2 * 16 }, (_, i) => Math.sin(i * 1.3)), [1, 2, 4, 4]);
      const h = hybridEncode(F, q, f);
      const sum = F.readSync(F.add(h.fHatDiscrete_BChw, h.residual_BChw));
      F.readSync(f).forEach((v, i) => expect(sum[i]).to.be.closeTo(v, 1e-6));
      expect(h.restBeforeLast_BLC.shape).to.deep.equal([1, 16, 2]);
      // residual = restBeforeLast − codes of the last scale (no φ)
      const lastCodes = q.embed(h.indices[2]); // (1, 16, 2)
      const residual_BLC = F.reshape(F.transpose(h.residual_BChw, [0, 2, 3, 1]), [1, 16, 2]);
      const want = F.readSync(F.sub(h.restBeforeLast_BLC, lastCodes));
      F.readSync(residual_BLC).forEach((v, i) => expect(v).to.be.closeTo(want[i], 1e-5));
    });
    q.dispose();
  });
});
