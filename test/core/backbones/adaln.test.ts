/**
 * The `adaln` backbone behind the Backbone contract: options, registration, VAR-style
 * initialisation, and KV-cached `step` reproducing the teacher-forced `forward` for both
 * variants and for block-causal and causal patterns, without leaking tensors.
 */
import { expect } from 'chai';
import { container } from 'tsyringe';
import {
  AdalnBackbone, adalnBackbone, AdalnOptions, adalnOptionsSchema, AttentionPattern, BACKBONE, ENGINE, Engine, isTesseraError,
  KvCache, ReplayDraws, Rng, Tensor, TfjsEngine,
} from '@tessera/core';

const tiny = (over: Partial<AdalnOptions> = {}): AdalnOptions => adalnOptionsSchema.parse({
  depth: 2, embedDim: 32, numHeads: 2, classes: 5, patchNums: [1, 2, 3], vocabEmbedDim: 4, ...over,
});

function randomInputs(F: Engine, shape: number[], seed: number, std = 1): Tensor {
  const rng = new Rng(seed);
  const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => std * rng.normal());
  return F.tensor(data, shape);
}

function maxAbsDiff(F: Engine, a: Tensor, b: Tensor): number {
  expect(a.shape).to.deep.equal(b.shape);
  const x = F.readSync(a), y = F.readSync(b);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

/** Feeds `inputs_BNCv` in chunks of `chunks` tokens after the start step; returns all hidden states. */
function stepThrough(F: Engine, bb: AdalnBackbone, labels: Tensor, inputs_BNCv: Tensor, chunks: number[], attention: AttentionPattern): Tensor {
  const [B, , Cv] = inputs_BNCv.shape;
  let cache: KvCache | undefined;
  const hidden: Tensor[] = [];
  const feed = (x: Tensor): void => {
    const r = bb.step({ inputs: x, labels, attention }, cache);
    cache = r.cache;
    hidden.push(r.output.hidden);
    F.dispose([x, r.output.cond!]);
  };
  feed(F.zeros([B, 0, Cv]));
  let at = 0;
  for (const n of chunks) {
    feed(F.slice(inputs_BNCv, [0, at, 0], [B, n, Cv]));
    at += n;
  }
  expect(cache?.length).to.equal(1 + at);
  cache?.dispose();
  const all = F.concat(hidden, 1);
  F.dispose(hidden);
  return all;
}

describe('core/backbones/adaln', () => {
  let F: Engine;
  before(async () => { F = await TfjsEngine.create(); });

  describe('options', () => {
    it('defaults to VAR-d16 and rejects unknown keys', () => {
      const o = adalnOptionsSchema.parse({});
      expect(o).to.include({ variant: 'var', depth: 16, embedDim: 1024, numHeads: 16, attnL2Norm: true, sharedAdaLN: false, classes: 1000 });
      expect(o.patchNums).to.deep.equal([1, 2, 3, 4, 5, 6, 8, 10, 13, 16]);
      expect(adalnOptionsSchema.safeParse({ width: 64 }).success).to.equal(false);
      expect(adalnOptionsSchema.safeParse({ variant: 'gpt2' }).success).to.equal(false);
    });

    it('refuses a width that does not split into heads, and HART settings it cannot run', () => {
      const codeOf = (o: AdalnOptions): unknown => {
        try { new AdalnBackbone(F, o); } catch (e) { return isTesseraError(e) ? [e.code, e.data.field] : e; }
        return undefined;
      };
      expect(codeOf(tiny({ embedDim: 30, numHeads: 4 }))).to.deep.equal(['CONFIG_INVALID', 'embedDim']);
      expect(codeOf(tiny({ variant: 'hart', embedDim: 24, numHeads: 4 }))).to.deep.equal(['CONFIG_INVALID', 'numHeads']);
      expect(codeOf(tiny({ variant: 'hart', patchNums: [2, 3] }))).to.deep.equal(['CONFIG_INVALID', 'patchNums']);
    });
  });

  it('registers under BACKBONE in a child container and declares its capabilities', () => {
    const c = container.createChildContainer();
    c.register(ENGINE, { useValue: F });
    adalnBackbone.register(c, tiny());
    const bb = c.resolve(BACKBONE);
    expect(bb).to.be.instanceOf(AdalnBackbone);
    expect(c.resolve(BACKBONE)).to.equal(bb);
    expect(adalnBackbone.kind).to.equal('backbone');
    expect(adalnBackbone.capabilities(tiny()).provides).to.include.members(['attention.block-causal', 'attention.causal', 'kv-cache']);
  });

  it('initialises as VAR init_weights: zero biases, AdaLN γ rows near 0, parameter names as the official keys', () => {
    const bb = new AdalnBackbone(F, tiny());
    bb.module.initialize(new Rng(3));
    const params = new Map(bb.module.namedParameters());
    expect([...params.keys()]).to.include.members(['word_embed.weight', 'class_emb.weight', 'pos_start', 'pos_1LC', 'lvl_embed.weight',
      'blocks.1.ada_lin.1.weight', 'blocks.0.attn.mat_qkv.weight', 'blocks.0.attn.scale_mul_1H11', 'blocks.0.ffn.fc2.bias', 'attn_bias_for_masking']);
    const w = F.readSync(params.get('blocks.0.ada_lin.1.weight')!.value);
    const gammaRows = w.subarray(0, w.length / 3);
    expect(Math.max(...Array.from(gammaRows, Math.abs))).to.be.below(1e-4);
    expect(Math.max(...Array.from(w.subarray(w.length / 3), Math.abs))).to.be.above(1e-3);
    expect(Array.from(F.readSync(params.get('blocks.0.ada_lin.1.bias')!.value)).every((v) => v === 0)).to.equal(true);
    expect(Array.from(F.readSync(params.get('blocks.0.attn.scale_mul_1H11')!.value))[0]).to.be.closeTo(Math.log(4), 1e-6);
    bb.module.dispose();
  });

  const variants: [string, Partial<AdalnOptions>][] = [
    ['VAR', {}],
    ['VAR with shared AdaLN and without l2-norm attention', { sharedAdaLN: true, attnL2Norm: false }],
    ['HART (class-conditioned, 2-D RoPE)', { variant: 'hart' }],
    ['HART with max pooling and a level table', { variant: 'hart', contextPooling: 'max', timestepLevelEmbed: false }],
  ];
  for (const [name, over] of variants) {
    it(`${name}: KV-cached steps scale by scale reproduce the block-causal teacher-forced forward, leaking nothing`, () => {
      const bb = new AdalnBackbone(F, tiny(over));
      bb.module.initialize(new Rng(7));
      // Random weights with visible AdaLN gates, so a wrong cache or position would show.
      bb.module.namedParameters().forEach(([, p], i) => { if (p.trainable) p.set(randomInputs(F, [...p.shape], 100 + i, 0.3)); });
      const before = F.liveTensors();
      const labels = F.tensor(new Int32Array([1, 5]), [2], 'int32'); // 5 = null class
      const inputs = randomInputs(F, [2, 13, 4], 11);
      const attention: AttentionPattern = { kind: 'block-causal', blockSizes: [1, 4, 9] };
      const full = bb.forward({ inputs, labels, attention });
      expect(full.hidden.shape).to.deep.equal([2, 14, 32]);
      expect(full.cond?.shape).to.deep.equal([2, 32]);
      const stepped = stepThrough(F, bb, labels, inputs, [4, 9], attention);
      expect(maxAbsDiff(F, full.hidden, stepped)).to.be.below(1e-4);
      F.dispose([labels, inputs, full.hidden, full.cond!, stepped]);
      expect(F.liveTensors()).to.equal(before);
      bb.module.dispose();
    });
  }

  it('causal attention: steps of one or two tokens reproduce the causal forward (mask rows offset by the cache)', () => {
    const bb = new AdalnBackbone(F, tiny({ patchNums: [1, 4] }));
    bb.module.initialize(new Rng(9));
    bb.module.namedParameters().forEach(([, p], i) => { if (p.trainable) p.set(randomInputs(F, [...p.shape], 200 + i, 0.3)); });
    const labels = F.tensor(new Int32Array([0, 2]), [2], 'int32');
    const inputs = randomInputs(F, [2, 16, 4], 12);
    const attention: AttentionPattern = { kind: 'causal' };
    const full = bb.forward({ inputs, labels, attention });
    const ones = stepThrough(F, bb, labels, inputs, Array(16).fill(1), attention);
    const twos = stepThrough(F, bb, labels, inputs, Array(8).fill(2), attention);
    expect(maxAbsDiff(F, full.hidden, ones)).to.be.below(1e-4);
    expect(maxAbsDiff(F, full.hidden, twos)).to.be.below(1e-4);
    const blockCausal = bb.forward({ inputs, labels, attention: { kind: 'block-causal', blockSizes: [1, 16] } });
    expect(maxAbsDiff(F, full.hidden, blockCausal.hidden)).to.be.above(1e-4);
    F.dispose([labels, inputs, full.hidden, full.cond!, ones, twos, blockCausal.hidden, blockCausal.cond!]);
    bb.module.dispose();
  });

  for (const variant of ['var', 'hart'] as const) {
    it(`${variant}: gradients reach every trainable parameter of the forward`, () => {
      const bb = new AdalnBackbone(F, tiny({ variant }));
      bb.module.initialize(new Rng(4));
      // HART's decoder_norm conditions the diffusion head only (diffusionCondition), not `hidden`.
      const params = bb.module.trainableParameters().filter(([k]) => k !== 'decoder_norm.weight');
      const labels = F.tensor(new Int32Array([1, 5]), [2], 'int32');
      const inputs = randomInputs(F, [2, 13, 4], 21);
      const { value, grads } = F.valueAndGrads(() => {
        const out = bb.forward({ inputs, labels, attention: { kind: 'block-causal', blockSizes: [1, 4, 9] } });
        return F.add(F.sum(F.square(out.hidden)), F.sum(out.cond!));
      }, params.map(([, p]) => p.asVariable));
      const dead = params.filter((_, i) => !grads[i] || !Array.from(F.readSync(grads[i])).some((v) => v !== 0)).map(([k]) => k);
      expect(dead).to.deep.equal([]);
      F.dispose([value, ...grads, labels, inputs]);
      bb.module.dispose();
    });
  }

  it('drops labels to the null class where the uniform draw is below condDropRate', () => {
    const bb = new AdalnBackbone(F, tiny({ condDropRate: 0.5 }));
    const labels = F.tensor(new Int32Array([0, 1, 2, 3]), [4], 'int32');
    const draws = new ReplayDraws([{ name: 'u', tensor: { dtype: 'float32', shape: [4], data: Float32Array.from([0.2, 0.7, 0.5, 0.49]) } }]);
    const dropped = bb.dropLabels(labels, draws);
    expect(Array.from(F.readSync(dropped))).to.deep.equal([5, 1, 2, 5]);
    F.dispose([labels, dropped]);
  });

  it('refuses sequences longer than its patch list and caches it did not make', () => {
    const bb = new AdalnBackbone(F, tiny());
    bb.module.initialize(new Rng(1));
    const labels = F.tensor(new Int32Array([0]), [1], 'int32');
    const tooLong = F.zeros([1, 14, 4]);
    const attention: AttentionPattern = { kind: 'bidirectional' };
    expect(() => bb.forward({ inputs: tooLong, labels, attention })).to.throw().with.property('code', 'SHAPE_MISMATCH');
    const foreign: KvCache = { length: 1, dispose: () => undefined };
    expect(() => bb.step!({ inputs: F.zeros([1, 4, 4]), labels, attention }, foreign)).to.throw().with.property('code', 'USAGE');
    F.dispose([labels, tooLong]);
    bb.module.dispose();
  });
});
