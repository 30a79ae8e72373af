/** The msvq Tokenizer: options, plugin wiring, encode/decode, the multi-scale view, hybrid tokens, training (packages/tokenizer-msvq/src/tokenizer.ts, options.ts, index.ts). */
import { expect } from 'chai';
import { container } from 'tsyringe';
import { type DiscreteTokens, type Engine, ENGINE, Rng, SeededDraws, type Tensor, TfjsEngine, TOKENIZER } from '@tessera/core';
import plugin, { MsvqTokenizer, msvqOptionsSchema, type MsvqOptions } from '@tessera/tokenizer-msvq';
import { expectCode as expectError } from '../helpers';

const TINY = { ch: 32, chMult: [1, 2], numResBlocks: 1, zChannels: 4, vocabSize: 16, patchNums: [1, 2, 4], resolution: 8 };

function tokenizer(F: Engine, over: Partial<MsvqOptions> = {}, seed = 7): MsvqTokenizer {
  const t = new MsvqTokenizer(F, msvqOptionsSchema.parse({ ...TINY, ...over }));
  t.module.initialize(new Rng(seed));
  return t;
}

function images(F: Engine, B = 2, side = 8): Tensor {
  return F.tensor(Float32Array.from({ length: B * 3 * side * side }, (_, i) => Math.sin(i * 0.61) * 0.8), [B, 3, side, side]);
}

function maxAbsDiff(F: Engine, a: Tensor, b: Tensor): number {
  const x = F.readSync(a);
  const y = F.readSync(b);
  let m = 0;
  x.forEach((v, i) => { m = Math.max(m, Math.abs(v - y[i])); });
  return m;
}


describe('tokenizer-msvq tokenizer', () => {
  let F: Engine;
  before(async () => { F = await TfjsEngine.create(); });

  describe('options and plugin', () => {
    it('defaults to the released 256 px VQVAE', () => {
      const o = msvqOptionsSchema.parse({});
      expect(o).to.include({ vocabSize: 4096, zChannels: 32, ch: 160, numResBlocks: 2, quantResi: 0.5, shareQuantResi: 4, usingZnorm: false, beta: 0.25, hybrid: false, resolution: 256 });
      expect(o.chMult).to.deep.equal([1, 1, 2, 2, 4]);
      expect(o.patchNums).to.deep.equal([1, 2, 3, 4, 5, 6, 8, 10, 13, 16]);
    });

    it('rejects unknown keys, a resolution that does not fit the scales, and unsorted scales', () => {
      const issuePaths = (v: unknown): string[] => {
        const r = msvqOptionsSchema.safeParse(v);
        expect(r.success).to.equal(false);
        return r.success ? [] : r.error.issues.map((i) => i.path.join('.') || i.code);
      };
      expect(issuePaths({ vocab: 10 })).to.deep.equal(['unrecognized_keys']);
      expect(issuePaths({ resolution: 512 })).to.deep.equal(['resolution']);
      expect(issuePaths({ ...TINY, patchNums: [2, 1, 4] })).to.deep.equal(['patchNums']);
      expect(issuePaths({ ...TINY, ch: 48 })).to.deep.equal(['ch']);
      expect(msvqOptionsSchema.safeParse({ hybrid: true, resolution: 1024, patchNums: [1, 2, 3, 4, 5, 7, 9, 12, 16, 21, 27, 36, 48, 64] }).success).to.equal(true);
    });

    it('provides discrete and multi-scale tokens, and the residual only in hybrid mode', () => {
      expect(plugin.name).to.equal('msvq');
      expect(plugin.kind).to.equal('tokenizer');
      expect(plugin.capabilities(msvqOptionsSchema.parse({})).provides).to.deep.equal(['discrete', 'multi-scale']);
      expect(plugin.capabilities(msvqOptionsSchema.parse({ hybrid: true })).provides).to.deep.equal(['discrete', 'multi-scale', 'residual']);
    });

    it('registers one cached tokenizer in the generator container, built on the injected engine', () => {
      const c = container.createChildContainer();
      c.register(ENGINE, { useValue: F });
      plugin.register(c, msvqOptionsSchema.parse(TINY));
      const t = c.resolve(TOKENIZER);
      expect(t).to.be.instanceOf(MsvqTokenizer);
      expect(c.resolve(TOKENIZER)).to.equal(t);
      expect(t.space).to.deep.equal({ kind: 'discrete', vocab: 16, embedDim: 4, grid: [4, 4] });
      expect(t.resolution).to.deep.equal([8, 8]);
    });
  });

  describe('encode and decode', () => {
    it('gives one row-major index map per scale, in range, and decodes to images without leaking', () => {
      const t = tokenizer(F);
      const x = images(F);
      const before = F.liveTensors();
      const tokens = t.encode(x);
      expect(tokens.indices.map((i) => i.shape)).to.deep.equal([[2, 1], [2, 4], [2, 16]]);
      expect(tokens.residual).to.equal(undefined);
      for (const idx of tokens.indices) for (const v of F.readSync(idx)) expect(v).to.be.within(0, 15);
      const img = t.decode(tokens);
      expect(img.shape).to.deep.equal([2, 3, 8, 8]);
      F.dispose([...tokens.indices, img]);
      expect(F.liveTensors()).to.equal(before);
      F.dispose(x);
      t.module.dispose();
    });

    it('decodes exactly what the quantizer reconstructs from the encoder features', () => {
      const t = tokenizer(F);
      F.tidy(() => {
        const x = images(F);
        const tokens = t.encode(x);
        const fHat = t.module.quantize.encode(t.module.features(x)).fHat_BChw;
        expect(maxAbsDiff(F, t.decode(tokens), t.module.fhatToImage(fHat))).to.be.below(1e-5);
      });
      t.module.dispose();
    });

    it('refuses continuous tokens, images of another size and a wrong number of scales', () => {
      const t = tokenizer(F);
      F.tidy(() => {
        expectError(() => t.decode({ kind: 'continuous', latent: F.zeros([1, 4, 4, 4]) }), 'PLUGIN_INCOMPATIBLE');
        expectError(() => t.encode(images(F, 1, 16)), 'SHAPE_MISMATCH');
        expectError(() => t.decode({ kind: 'discrete', indices: [F.zeros([1, 1], 'int32')] }), 'SHAPE_MISMATCH');
      });
      t.module.dispose();
    });
  });

  describe('multi-scale view', () => {
    for (const hybrid of [false, true]) {
      it(`replays encoding step by step with nextInput${hybrid ? ' (hybrid: last scale without φ)' : ''}`, () => {
        const t = tokenizer(F, { hybrid });
        const ms = t.multiScale;
        F.tidy(() => {
          const tokens = t.encode(images(F));
          const x = ms.teacherForcingInput(tokens.indices);
          expect(x.shape).to.deep.equal([2, 4 + 16, 4]);
          let fHat = F.zeros([2, 4, 4, 4]);
          const inputs: Tensor[] = [];
          ms.patchNums.forEach((pn, si) => {
            const h = F.reshape(F.transpose(ms.embed(tokens.indices[si]), [0, 2, 1]), [2, 4, pn, pn]); // (B, l, C) -> (B, C, pn, pn)
            const step = ms.nextInput(si, fHat, h);
            fHat = step.fHat;
            if (step.next) inputs.push(F.transpose(F.reshape(step.next, [2, 4, -1]), [0, 2, 1]));
            else expect(si).to.equal(ms.patchNums.length - 1);
          });
          expect(maxAbsDiff(F, F.concat(inputs, 1), x)).to.be.below(1e-6);
          const direct = t.decode({ kind: 'discrete', indices: tokens.indices });
          expect(maxAbsDiff(F, ms.decodeFeatures(fHat), direct)).to.be.below(1e-5);
        });
        t.module.dispose();
      });
    }
  });

  describe('hybrid tokens', () => {
    it('carry the residual f − f̂, so decoding both gives back the encoder latent', () => {
      const t = tokenizer(F, { hybrid: true });
      F.tidy(() => {
        const x = images(F);
        const tokens = t.encode(x) as DiscreteTokens;
        expect(tokens.residual?.shape).to.deep.equal([2, 4, 4, 4]);
        expect(maxAbsDiff(F, t.decode(tokens), t.module.fhatToImage(t.module.features(x)))).to.be.below(1e-4);
        const discreteOnly = t.decode({ kind: 'discrete', indices: tokens.indices });
        expect(maxAbsDiff(F, discreteOnly, t.decode(tokens))).to.be.above(1e-4);
      });
      t.module.dispose();
    });
  });

  describe('training loss', () => {
    const sgdSteps = (t: MsvqTokenizer, x: Tensor, steps: number, lr: number, seed: number): number[] => {
      const draws = SeededDraws.fromSeed(seed);
      const params = t.module.trainableParameters().map(([, p]) => p);
      const losses: number[] = [];
      for (let s = 0; s < steps; s++) {
        const { value, grads } = F.valueAndGrads(() => t.trainingLoss(x, draws).loss, params.map((p) => p.asVariable));
        losses.push(F.readSync(value)[0]);
        params.forEach((p, i) => { if (grads[i]) p.set(F.tidy(() => F.sub(p.value, F.mul(grads[i], lr)))); });
        F.dispose([value, ...grads.filter(Boolean)]);
      }
      return losses;
    };

    for (const hybrid of [false, true]) {
      it(`goes down under plain SGD on a tiny batch${hybrid ? ' (hybrid)' : ''}`, () => {
        const t = tokenizer(F, { hybrid, reconstructionL1Weight: 0.5, skipContinuousProbability: 0 });
        const x = images(F);
        const before = F.liveTensors();
        const losses = sgdSteps(t, x, 6, 0.01, 3);
        expect(F.liveTensors()).to.equal(before);
        expect(losses[losses.length - 1], losses.join(', ')).to.be.below(0.8 * losses[0]);
        F.dispose(x);
        t.module.dispose();
      });
    }

    it('sends gradients to the encoder (straight through), the codebook, φ and the decoder', () => {
      const t = tokenizer(F);
      F.tidy(() => {
        const x = images(F);
        const named = t.module.trainableParameters();
        const { grads } = F.valueAndGrads(() => t.trainingLoss(x, SeededDraws.fromSeed(1)).loss, named.map(([, p]) => p.asVariable));
        const norm = (key: string): number => {
          const g = grads[named.findIndex(([k]) => k === key)];
          return g ? Math.max(...F.readSync(F.abs(g))) : 0;
        };
        for (const key of ['encoder.conv_in.weight', 'quant_conv.weight', 'quantize.embedding.weight', 'quantize.quant_resi.qresi_ls.0.weight', 'quantize.quant_resi.qresi_ls.3.weight', 'post_quant_conv.bias', 'decoder.conv_out.weight']) {
          expect(norm(key), key).to.be.above(0);
        }
      });
      t.module.dispose();
    });

    it('reports reconstruction L1, L2 and VQ terms whose weighted sum is the loss', () => {
      const t = tokenizer(F, { reconstructionL1Weight: 0.5, reconstructionL2Weight: 2 });
      F.tidy(() => {
        const { loss, terms } = t.trainingLoss(images(F), SeededDraws.fromSeed(1));
        const v = (x: Tensor): number => F.readSync(x)[0];
        expect(Object.keys(terms)).to.have.members(['reconstructionL1', 'reconstructionL2', 'vq']);
        expect(v(loss)).to.be.closeTo(2 * v(terms.reconstructionL2) + 0.5 * v(terms.reconstructionL1) + v(terms.vq), 1e-5);
        expect(v(terms.vq)).to.be.above(0);
      });
      t.module.dispose();
    });
  });
});
