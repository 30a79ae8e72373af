/** The `mae` backbone (spec/mar.md §3-4, spec/far.md §1-2): layouts, masking, label drop, plugin wiring. */
import { expect } from 'chai';
import { container as rootContainer } from 'tsyringe';
import {
  BACKBONE, Backbone, ENGINE, Engine, frequencyFilter, isTesseraError, MaeBackbone, maeBackbone, maeOptionsSchema,
  patchify, ReplayDraws, Rng, SeededDraws, TfjsEngine, unpatchify,
} from '@tessera/core';

const tiny = maeOptionsSchema.parse({
  imgSize: 32, vaeStride: 8, patchSize: 2, vaeEmbedDim: 3,
  encoderEmbedDim: 16, encoderDepth: 1, encoderNumHeads: 2,
  decoderEmbedDim: 12, decoderDepth: 1, decoderNumHeads: 3,
  classNum: 5, bufferSize: 2, labelDropProb: 0.5, attnDropout: 0, projDropout: 0,
});

describe('core/backbones/mae', () => {
  let F: Engine;
  before(async () => { F = await TfjsEngine.create(); });

  const read = (t: Parameters<Engine['readSync']>[0]): number[] => Array.from(F.readSync(t));

  describe('patchify / unpatchify', () => {
    it('orders tokens raster-wise, channel slowest inside a token, and inverts exactly', () => {
      const [B, c, h, w, p] = [2, 3, 4, 6, 2];
      const data = Float32Array.from({ length: B * c * h * w }, (_, i) => i);
      const x = F.tensor(data, [B, c, h, w]);
      const tokens = patchify(F, x, p);
      expect(tokens.shape).to.deep.equal([B, (h / p) * (w / p), c * p * p]);
      const got = read(tokens);
      // token (b=1, row=1, col=2), value (ch=2, dy=1, dx=0) = x[1, 2, 1·2+1, 2·2+0]
      const l = 1 * (w / p) + 2, v = 2 * p * p + 1 * p + 0;
      expect(got[(1 * ((h / p) * (w / p)) + l) * c * p * p + v]).to.equal(data[((1 * c + 2) * h + 3) * w + 4]);
      const back = unpatchify(F, tokens, c, p, h / p, w / p);
      expect(read(back)).to.deep.equal(Array.from(data));
      F.dispose([x, tokens, back]);
    });

    it('refuses a latent whose sides are not multiples of the patch size', () => {
      const x = F.zeros([1, 2, 3, 4]);
      expect(() => patchify(F, x, 2)).to.throw().that.satisfies((e: unknown) => isTesseraError(e, 'SHAPE_MISMATCH'));
      F.dispose(x);
    });
  });

  describe('options', () => {
    it('has the official defaults and rejects unknown keys and indivisible head counts', () => {
      const d = maeOptionsSchema.parse({});
      expect(d).to.include({ imgSize: 256, vaeStride: 16, patchSize: 1, bufferSize: 64, classNum: 1000, encoderEmbedDim: 1024, normEps: 1e-6 });
      expect(maeOptionsSchema.safeParse({ bufSize: 3 }).success).to.equal(false);
      const bad = maeOptionsSchema.safeParse({ encoderEmbedDim: 30, encoderNumHeads: 4 });
      expect(bad.success).to.equal(false);
      if (!bad.success) expect(bad.error.issues[0].path).to.deep.equal(['encoderNumHeads']);
    });
  });

  describe('frequencyFilter', () => {
    it('gives zeros at level 0, the input at level H, and refuses levels above H', () => {
      const x = F.tensor(Float32Array.from({ length: 2 * 4 * 4 }, (_, i) => Math.sin(i)), [1, 2, 4, 4]);
      const z0 = frequencyFilter(F, x, 0), zH = frequencyFilter(F, x, 4);
      expect(read(z0).every((v) => v === 0)).to.equal(true);
      expect(read(zH)).to.deep.equal(read(x));
      F.dispose([z0, zH]);
      expect(read(x)).to.have.length(32); // the identity result is a fresh tensor: disposing it left x alive
      expect(() => frequencyFilter(F, x, 5)).to.throw().that.satisfies((e: unknown) => isTesseraError(e, 'SHAPE_MISMATCH'));
      F.dispose(x);
    });
  });

  describe('MaeBackbone', () => {
    let backbone: MaeBackbone;
    const B = 2;
    const L = (32 / 8 / 2) ** 2; // 4
    const C = 3 * 4;
    before(() => {
      backbone = new MaeBackbone(F, tiny);
      backbone.module.initialize(new Rng(7));
    });
    after(() => backbone.module.dispose());

    const tokens = (seed: number): ReturnType<Engine['tensor']> => {
      const r = new Rng(seed);
      return F.tensor(Float32Array.from({ length: B * L * C }, () => r.normal()), [B, L, C]);
    };
    const labels = (...v: number[]): ReturnType<Engine['tensor']> => F.tensor(Int32Array.from(v), [v.length], 'int32');

    it('names parameters with the official MAR keys', () => {
      const keys = backbone.module.namedParameters().map(([k]) => k);
      for (const k of ['class_emb.weight', 'fake_latent', 'mask_token', 'z_proj.weight', 'z_proj_ln.bias', 'encoder_pos_embed_learned',
        'encoder_blocks.0.attn.qkv.weight', 'encoder_blocks.0.mlp.fc2.bias', 'encoder_norm.weight', 'decoder_embed.weight',
        'decoder_pos_embed_learned', 'decoder_blocks.0.norm1.weight', 'decoder_norm.bias', 'diffusion_pos_embed_learned']) {
        expect(keys).to.include(k);
      }
      const shapes = new Map(backbone.module.namedParameters().map(([k, p]) => [k, [...p.shape]]));
      expect(shapes.get('encoder_pos_embed_learned')).to.deep.equal([1, L + 2, 16]);
      expect(shapes.get('diffusion_pos_embed_learned')).to.deep.equal([1, L, 12]);
      expect(shapes.get('class_emb.weight')).to.deep.equal([5, 16]);
    });

    it('returns z [B, L, Dd]; all-ones visibility equals no visibility; masked token values do not matter; no leaks', () => {
      const before = F.liveTensors();
      const x1 = tokens(1), x2 = tokens(2), lab = labels(1, 4);
      const ones = F.ones([B, L]);
      const a = backbone.forward({ inputs: x1, labels: lab, attention: { kind: 'bidirectional' } }).hidden;
      const b = backbone.forward({ inputs: x1, labels: lab, attention: { kind: 'bidirectional' }, visible: ones }).hidden;
      expect(a.shape).to.deep.equal([B, L, 12]);
      expect(read(a)).to.deep.equal(read(b));
      // Tokens 1 and 3 masked in both rows; the inputs differ only at masked positions.
      const visible = F.tensor(Float32Array.from([1, 0, 1, 0, 1, 0, 1, 0]), [B, L]);
      const keepMask = F.reshape(visible, [B, L, 1]);
      const mixed = F.tidy(() => F.add(F.mul(x1, keepMask), F.mul(x2, F.sub(1, keepMask))));
      const m1 = backbone.forward({ inputs: x1, labels: lab, attention: { kind: 'bidirectional' }, visible }).hidden;
      const m2 = backbone.forward({ inputs: mixed, labels: lab, attention: { kind: 'bidirectional' }, visible }).hidden;
      expect(read(m1)).to.deep.equal(read(m2));
      expect(read(m1)).to.not.deep.equal(read(a));
      F.dispose([x1, x2, lab, ones, a, b, visible, keepMask, mixed, m1, m2]);
      expect(F.liveTensors()).to.equal(before);
    });

    it('refuses rows with different numbers of visible tokens', () => {
      const x = tokens(1), lab = labels(0, 1), visible = F.tensor(Float32Array.from([1, 1, 0, 0, 1, 0, 0, 0]), [B, L]);
      expect(() => backbone.forward({ inputs: x, labels: lab, attention: { kind: 'bidirectional' }, visible }))
        .to.throw().that.satisfies((e: unknown) => isTesseraError(e, 'SHAPE_MISMATCH'));
      F.dispose([x, lab, visible]);
    });

    it('drops labels to the null class where the training draw is below labelDropProb, and is deterministic', () => {
      const x = tokens(3);
      const lab = labels(2, 3), nulls = labels(5, 3);
      // u = [0.2, 0.9]: row 0 dropped (0.2 < 0.5), row 1 kept.
      const draws = new ReplayDraws([{ name: 'drop', tensor: { dtype: 'float32', shape: [2], data: Float32Array.from([0.2, 0.9]) } }]);
      const dropped = backbone.forward({ inputs: x, labels: lab, attention: { kind: 'bidirectional' }, training: { draws } }).hidden;
      const asNull = backbone.forward({ inputs: x, labels: nulls, attention: { kind: 'bidirectional' } }).hidden;
      expect(read(dropped)).to.deep.equal(read(asNull));
      expect(draws.remaining).to.equal(0);
      const s1 = backbone.forward({ inputs: x, labels: lab, attention: { kind: 'bidirectional' }, training: { draws: SeededDraws.fromSeed(9) } }).hidden;
      const s2 = backbone.forward({ inputs: x, labels: lab, attention: { kind: 'bidirectional' }, training: { draws: SeededDraws.fromSeed(9) } }).hidden;
      expect(read(s1)).to.deep.equal(read(s2));
      F.dispose([x, lab, nulls, dropped, asNull, s1, s2]);
    });

    it('refuses a causal attention pattern with PLUGIN_INCOMPATIBLE', () => {
      const x = tokens(1), lab = labels(0, 1);
      expect(() => backbone.forward({ inputs: x, labels: lab, attention: { kind: 'causal' } }))
        .to.throw().that.satisfies((e: unknown) => isTesseraError(e, 'PLUGIN_INCOMPATIBLE'));
      F.dispose([x, lab]);
    });

    it('applies dropout only in training, from the draw source', () => {
      const drop = new MaeBackbone(F, { ...tiny, attnDropout: 0.3, projDropout: 0.3, labelDropProb: 0 });
      drop.module.initialize(new Rng(7));
      const x = tokens(4), lab = labels(0, 1);
      const evalA = drop.forward({ inputs: x, labels: lab, attention: { kind: 'bidirectional' } }).hidden;
      const plain = backbone.forward({ inputs: x, labels: lab, attention: { kind: 'bidirectional' } }).hidden;
      const train = drop.forward({ inputs: x, labels: lab, attention: { kind: 'bidirectional' }, training: { draws: SeededDraws.fromSeed(1) } }).hidden;
      expect(read(evalA)).to.deep.equal(read(plain)); // same init stream, same weights
      expect(read(train)).to.not.deep.equal(read(evalA));
      F.dispose([x, lab, evalA, plain, train]);
      drop.module.dispose();
    });
  });

  describe('plugin', () => {
    it('is a backbone plugin providing bidirectional attention that registers under BACKBONE', () => {
      expect(maeBackbone).to.include({ name: 'mae', kind: 'backbone' });
      expect(maeBackbone.capabilities(tiny).provides).to.deep.equal(['attention.bidirectional']);
      expect(maeBackbone.parity.map((h) => h.kind)).to.have.members(['mar.model.forward', 'far.model.forward', 'far.filter']);
      const c = rootContainer.createChildContainer();
      c.register(ENGINE, { useValue: F });
      maeBackbone.register(c, tiny);
      const b = c.resolve<Backbone>(BACKBONE);
      expect(b).to.be.instanceOf(MaeBackbone);
      expect(c.resolve(BACKBONE)).to.equal(b);
      expect(b.module.parameterCount()).to.be.greaterThan(0);
    });
  });
});
