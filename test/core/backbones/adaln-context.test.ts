/**
 * HART's text conditioning through the Backbone contract (`conditioning: "context"`):
 * T context features per sample through `context_embed`, the null context on rows of
 * the null class (hart.md §6 step 1), the direction's block pattern with the T context
 * tokens as block 0, default mask and position ids, and the errors of a context given
 * to a class-conditioned backbone or missing from a text-conditioned one.
 */
import { expect } from 'chai';
import {
  AdalnBackbone, AdalnOptions, adalnOptionsSchema, AttentionPattern, ContextInput, Engine, KvCache, OnnxEngine, Rng, Tensor, TfjsEngine,
} from '@tessera/core';
import { expectCode } from '../../helpers';

const T = 5;
const D = 6;
const CLASSES = 3;

const textHart = (over: Partial<AdalnOptions> = {}): AdalnOptions => adalnOptionsSchema.parse({
  variant: 'hart', depth: 2, embedDim: 32, numHeads: 2, classes: CLASSES, patchNums: [1, 2, 3], vocabEmbedDim: 4,
  conditioning: 'context', contextTokens: T, contextDim: D, contextPooling: 'avg', ...over,
});

function random(F: Engine, shape: number[], seed: number, std = 1): Tensor {
  const rng = new Rng(seed);
  return F.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => std * rng.normal()), shape);
}

/** A backbone with random weights whose AdaLN gates are visibly open. */
function built(F: Engine, options: AdalnOptions, seed = 5): AdalnBackbone {
  const bb = new AdalnBackbone(F, options);
  bb.module.initialize(new Rng(seed));
  bb.module.namedParameters().forEach(([, p], i) => { if (p.trainable) p.set(random(F, [...p.shape], 300 + i, 0.3)); });
  return bb;
}

function maxAbsDiff(F: Engine, a: Tensor, b: Tensor): number {
  expect(a.shape).to.deep.equal(b.shape);
  const x = F.readSync(a), y = F.readSync(b);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

/** Two context rows: the second padded after 2 real tokens. */
function twoRows(F: Engine): Required<ContextInput> {
  return {
    features: random(F, [2, T, D], 21),
    mask: F.tensor(Float32Array.of(1, 1, 1, 1, 1, 1, 1, 0, 0, 0), [2, T]),
    positions: F.tensor(Int32Array.of(0, 1, 2, 3, 4, 0, 1, 1, 1, 1), [2, T], 'int32'),
  };
}

/** The start step, then each chunk of inputs; returns every hidden state in order and the cond of the last call. */
function stepThrough(F: Engine, bb: AdalnBackbone, labels: Tensor, context: ContextInput, inputs: Tensor, chunks: number[], attention: AttentionPattern): { hidden: Tensor; cond: Tensor } {
  const [B, , Cv] = inputs.shape;
  let cache: KvCache | undefined;
  const hidden: Tensor[] = [];
  let cond: Tensor | undefined;
  const feed = (x: Tensor): void => {
    const r = bb.step({ inputs: x, labels, attention, context }, cache);
    cache = r.cache;
    hidden.push(r.output.hidden);
    if (cond) F.dispose(cond);
    cond = r.output.cond;
    F.dispose(x);
  };
  feed(F.zeros([B, 0, Cv]));
  let at = 0;
  for (const n of chunks) {
    feed(F.slice(inputs, [0, at, 0], [B, n, Cv]));
    at += n;
  }
  expect(cache?.length).to.equal(T + at);
  cache?.dispose();
  const all = F.concat(hidden, 1);
  F.dispose(hidden);
  return { hidden: all, cond: cond as Tensor };
}

describe('core/backbones/adaln: HART text conditioning', () => {
  let F: Engine;
  before(async () => { F = await TfjsEngine.create(); });
  const attention: AttentionPattern = { kind: 'block-causal', blockSizes: [1, 4, 9] }; // the direction's view: scale 0 is one token

  it('declares the context it takes, and refuses context conditioning outside HART', () => {
    const bb = new AdalnBackbone(F, textHart());
    expect(bb.context).to.deep.equal({ tokens: T, dim: D, required: true });
    expect(bb.module.namedParameters().map(([k]) => k)).to.include('context_embed.weight').and.not.include('class_emb.weight');
    expect(new AdalnBackbone(F, textHart({ conditioning: 'class' })).context).to.equal(undefined);
    expect(expectCode(() => new AdalnBackbone(F, textHart({ variant: 'var' })), 'CONFIG_INVALID').data.field).to.equal('conditioning');
    bb.module.dispose();
  });

  it('KV-cached steps (T context tokens first) reproduce the teacher-forced forward, leaking nothing', () => {
    const bb = built(F, textHart());
    const before = F.liveTensors();
    const labels = F.tensor(Int32Array.of(0, 0), [2], 'int32');
    const context = twoRows(F);
    const inputs = random(F, [2, 13, 4], 11);
    const full = bb.forward({ inputs, labels, attention, context });
    expect(full.hidden.shape).to.deep.equal([2, T + 13, 32]);
    const stepped = stepThrough(F, bb, labels, context, inputs, [4, 9], attention);
    expect(maxAbsDiff(F, full.hidden, stepped.hidden)).to.be.below(1e-4);
    expect(maxAbsDiff(F, full.cond as Tensor, stepped.cond)).to.be.below(1e-5);
    F.dispose([labels, inputs, full.hidden, full.cond as Tensor, stepped.hidden, stepped.cond, context.features, context.mask, context.positions]);
    expect(F.liveTensors()).to.equal(before);
    bb.module.dispose();
  });

  it('rows of the null class get the official null context: zero features, mask [1, 0, …], position ids 0', () => {
    const bb = built(F, textHart());
    const context = twoRows(F);
    const inputs = random(F, [4, 4, 4], 12);
    // Guided rows as a direction stacks them: [labels; null labels] over the same 2 context rows.
    const implicit = stepThrough(F, bb, F.tensor(Int32Array.of(0, 1, CLASSES, CLASSES), [4], 'int32'), context, inputs, [4], attention);
    const nullRows: Required<ContextInput> = {
      features: F.concat([context.features, F.zeros([2, T, D])], 0),
      mask: F.concat([context.mask, F.tensor(Float32Array.of(1, 0, 0, 0, 0, 1, 0, 0, 0, 0), [2, T])], 0),
      positions: F.concat([context.positions, F.zeros([2, T], 'int32')], 0),
    };
    const explicit = stepThrough(F, bb, F.tensor(Int32Array.of(0, 1, 0, 1), [4], 'int32'), nullRows, inputs, [4], attention);
    expect(maxAbsDiff(F, implicit.hidden, explicit.hidden)).to.be.below(1e-5);
    expect(maxAbsDiff(F, implicit.cond, explicit.cond)).to.be.below(1e-6);
    // The null rows really differ from the conditional ones.
    const h = F.readSync(implicit.hidden);
    const half = h.length / 2;
    expect(Math.max(...Array.from(h.subarray(0, half), (v, i) => Math.abs(v - h[half + i])))).to.be.above(1e-3);
    bb.module.dispose();
  });

  it('fills an absent mask with ones and absent position ids with cumsum(mask) − 1', () => {
    const bb = built(F, textHart());
    const labels = F.tensor(Int32Array.of(0, 0), [2], 'int32');
    const ctx = twoRows(F);
    const inputs = random(F, [2, 4, 4], 13);
    const given = stepThrough(F, bb, labels, ctx, inputs, [4], attention);
    const derived = stepThrough(F, bb, labels, { features: ctx.features, mask: ctx.mask }, inputs, [4], attention);
    expect(maxAbsDiff(F, given.hidden, derived.hidden)).to.equal(0);
    const allReal = stepThrough(F, bb, labels, { features: ctx.features }, inputs, [4], attention);
    const explicitOnes = stepThrough(F, bb, labels, { features: ctx.features, mask: F.ones([2, T]), positions: F.tensor(Int32Array.of(0, 1, 2, 3, 4, 0, 1, 2, 3, 4), [2, T], 'int32') }, inputs, [4], attention);
    expect(maxAbsDiff(F, allReal.hidden, explicitOnes.hidden)).to.equal(0);
    bb.module.dispose();
  });

  it('refuses a missing context, a context of the wrong size, and a context given to a class-conditioned HART', () => {
    const bb = built(F, textHart());
    const labels = F.tensor(Int32Array.of(0), [1], 'int32');
    const inputs = F.zeros([1, 0, 4]);
    expect(expectCode(() => bb.step({ inputs, labels, attention }, undefined), 'USAGE').message).to.match(/text-conditioned.*--context/);
    expect(expectCode(() => bb.step({ inputs, labels, attention, context: { features: F.zeros([1, T + 1, D]) } }, undefined), 'SHAPE_MISMATCH').message).to.match(/\[B, 5, 6\]/);
    expectCode(() => bb.step({ inputs, labels, attention, context: { features: F.zeros([1, T, D]), mask: F.ones([1, T - 1]) } }, undefined), 'SHAPE_MISMATCH');
    const classHart = built(F, textHart({ conditioning: 'class' }));
    expectCode(() => classHart.step({ inputs, labels, attention, context: { features: F.zeros([1, T, D]) } }, undefined), 'PLUGIN_INCOMPATIBLE');
    bb.module.dispose();
    classHart.module.dispose();
  });

  it('the onnx engine (compiled step with the context as graph inputs) gives the tfjs outputs', async () => {
    const O = await OnnxEngine.create();
    const run = (E: Engine): Float32Array => {
      const bb = built(E, textHart());
      const ctx = twoRows(E);
      const out = stepThrough(E, bb, E.tensor(Int32Array.of(0, CLASSES), [2], 'int32'), { features: ctx.features, mask: ctx.mask }, random(E, [2, 13, 4], 14), [4, 9], attention);
      const h = Float32Array.from(E.readSync(out.hidden));
      bb.module.dispose();
      return h;
    };
    const a = run(F), b = run(O);
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
    expect(m).to.be.below(1e-4);
  });
});
