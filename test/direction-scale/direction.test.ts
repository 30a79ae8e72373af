/**
 * Direction `scale` on tiny generators built from JSON configs: VAR-like sampling end to
 * end through the core Sampler, KV-cached sampling agreeing with the teacher-forced
 * forward, teacher-forcing examples (weights, progressive stages), HART's residual head,
 * continuous tokens through the generic pyramid, and zero-shot editing.
 */
import { expect } from 'chai';
import {
  DiscreteTokens, Engine, Generator, HeadInput, isTesseraError, parseSettings, Sampler, SamplingContext, SeededDraws, Tensor, TfjsEngine, tokenTensors, Tokens,
} from '@tessera/core';
import plugin, { editMask, roundHalfEven, ScaleDirection } from '@tessera/direction-scale';
import { adaln, buildTiny, diffusion, disposeGenerator, tinyHart, tinyVar, vae } from './tiny';

function context(F: Engine, g: Generator, labels: number[], settings: Parameters<typeof parseSettings>[0], seed = 0): SamplingContext {
  return {
    tokenizer: g.tokenizer, backbone: g.backbone, head: g.head, draws: SeededDraws.fromSeed(seed), settings: parseSettings(settings),
    labels: F.tensor(Int32Array.from(labels), [labels.length], 'int32'), nullLabels: F.full([labels.length], 10, 'int32'),
  };
}

function disposeTokens(F: Engine, t: Tokens): void {
  F.dispose(tokenTensors(t));
}

describe('direction-scale', () => {
  let F: Engine;
  let varGen: Generator;

  before(async () => {
    F = await TfjsEngine.create();
    varGen = buildTiny(F, tinyVar(), 3);
  });
  after(() => disposeGenerator(varGen));

  it('samples images with a VAR-like generator through the Sampler, one step per scale', () => {
    const before = F.liveTensors();
    const labels: string[] = [];
    const { images, tokens } = new Sampler(varGen).sample({
      labels: [1, null], settings: { cfg: 2.5, topK: 8, topP: 0.9 }, seed: 5, onStep: (p) => labels.push(p.step.label),
    });
    expect(images.shape).to.deep.equal([2, 3, 8, 8]);
    expect(labels).to.deep.equal(['scale 0 (1x1)', 'scale 1 (2x2)', 'scale 2 (4x4)']);
    expect(tokens.kind).to.equal('discrete');
    expect((tokens as DiscreteTokens).indices.map((t) => t.shape)).to.deep.equal([[2, 1], [2, 4], [2, 16]]);
    const px = F.readSync(images);
    expect(Array.from(px).every((v) => Number.isFinite(v) && v >= -1 && v <= 1)).to.equal(true);
    F.dispose(images);
    disposeTokens(F, tokens);
    expect(F.liveTensors()).to.equal(before);
  });

  it('decodes the features its loop accumulated, so Gumbel-smoothed samples keep the smoothing (as VAR)', () => {
    const before = F.liveTensors();
    const { images, tokens } = new Sampler(varGen).sample({ labels: [2, 5], settings: { cfg: 2, smooth: true }, seed: 11 });
    const t = tokens as DiscreteTokens;
    expect(t.features?.shape).to.deep.equal([2, varGen.tokenizer.space.kind === 'discrete' ? varGen.tokenizer.space.embedDim : 0, 4, 4]);
    const fromIndices = varGen.tokenizer.decode({ kind: 'discrete', indices: t.indices });
    const fromFeatures = varGen.tokenizer.decode(t);
    const diff = (a: Tensor, b: Tensor): number => F.tidy(() => F.readSync(F.max(F.abs(F.sub(a, b))))[0]);
    expect(F.tidy(() => diff(F.clip(fromFeatures, -1, 1), images))).to.be.lessThan(1e-5);
    expect(diff(fromIndices, fromFeatures)).to.be.greaterThan(1e-3); // smoothing changed the features
    F.dispose([images, fromIndices, fromFeatures]);
    disposeTokens(F, tokens);
    expect(F.liveTensors()).to.equal(before);
  });

  it('is deterministic under a seed, and Gumbel smoothing runs', () => {
    const run = (seed: number, smooth: boolean): number[] => {
      const { images, tokens } = new Sampler(varGen).sample({ labels: [3, 4], settings: { cfg: 3, smooth }, seed });
      const out = Array.from(F.readSync(images));
      F.dispose(images);
      disposeTokens(F, tokens);
      return out;
    };
    expect(run(7, false)).to.deep.equal(run(7, false));
    expect(run(7, true)).to.deep.equal(run(7, true));
  });

  it('greedy KV-cached sampling picks the argmax of the teacher-forced logits of its own tokens', () => {
    const direction = varGen.direction as ScaleDirection;
    const ctx = context(F, varGen, [2, 5], { cfg: 1, greedy: true });
    let state = direction.init(ctx);
    while (!state.done) state = direction.step(state, ctx);
    const tokens = direction.finalTokens(state, ctx) as DiscreteTokens;
    direction.dispose(state);
    const ex = direction.trainingExample(tokens, varGen.tokenizer, ctx.draws);
    const logits = F.tidy(() => {
      const out = varGen.backbone.forward({ inputs: ex.inputs, labels: ctx.labels, attention: ex.attention, levels: ex.levels });
      return F.argmax((varGen.head as unknown as { logits(i: HeadInput): Tensor }).logits({ z: out.hidden, cond: out.cond }), -1);
    });
    const all = F.tidy(() => F.concat(tokens.indices, 1));
    expect(Array.from(F.readSync(logits))).to.deep.equal(Array.from(F.readSync(all)));
    F.dispose([logits, all, ctx.labels, ctx.nullLabels, ex.inputs, ...(ex.levels ? [ex.levels] : []), ex.target.indices as Tensor, ex.weights as Tensor]);
    disposeTokens(F, tokens);
  });

  it('builds block-causal teacher-forcing examples with VAR weights 1/L, and progressive stages', () => {
    const direction = varGen.direction as ScaleDirection;
    const indices = [[2, 1], [2, 4], [2, 16]].map((s) => F.zeros(s, 'int32'));
    const tokens: DiscreteTokens = { kind: 'discrete', indices };
    const draws = SeededDraws.fromSeed(0);
    const full = direction.trainingExample(tokens, varGen.tokenizer, draws);
    expect(full.inputs.shape).to.deep.equal([2, 20, 8]);
    expect(full.attention).to.deep.equal({ kind: 'block-causal', blockSizes: [1, 4, 16] });
    expect(Array.from(F.readSync(full.levels as Tensor))).to.deep.equal([0, 1, 1, 1, 1, ...Array(16).fill(2)]);
    expect(full.target.indices?.shape).to.deep.equal([42]);
    expect(Array.from(F.readSync(full.weights as Tensor)).every((w) => Math.abs(w - 1 / 21) < 1e-7)).to.equal(true);
    expect(full.lossScale).to.be.closeTo(1, 1e-6);
    direction.setProgressiveStage({ scale: 1, weight: 0.5 });
    const prog = direction.trainingExample(tokens, varGen.tokenizer, draws);
    direction.setProgressiveStage(null);
    expect(prog.inputs.shape).to.deep.equal([2, 4, 8]);
    expect(prog.attention).to.deep.equal({ kind: 'block-causal', blockSizes: [1, 4] });
    const w = Array.from(F.readSync(prog.weights as Tensor)).slice(0, 5);
    expect(w[0]).to.be.closeTo(1 / 21, 1e-7);
    expect(w[4]).to.be.closeTo(0.5 / 21, 1e-7);
    expect(prog.lossScale).to.be.closeTo(3 / 21, 1e-6);
    for (const ex of [full, prog]) F.dispose([ex.inputs, ex.levels as Tensor, ex.target.indices as Tensor, ex.weights as Tensor]);
    F.dispose(indices);
  });

  it('edits zero-shot: kept positions take the image\'s tokens; masks round half to even', () => {
    expect([roundHalfEven(4.5), roundHalfEven(3.5), roundHalfEven(0.6000000000000001), roundHalfEven(-2.5)]).to.deep.equal([4, 4, 1, -2]);
    const keep = editMask(4, { y0: 0.25, x0: 0.25, y1: 0.75, x1: 0.75 }, true);
    expect(Array.from(keep)).to.deep.equal([1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
    const direction = varGen.direction as ScaleDirection;
    const image = [F.tensor(Int32Array.of(3), [1, 1], 'int32'), F.tensor(Int32Array.of(1, 2, 3, 4), [1, 4], 'int32'), F.tensor(Int32Array.from({ length: 16 }, (_, i) => i % 16), [1, 16], 'int32')];
    const ctx = context(F, varGen, [1], { cfg: 2 }, 3);
    let state = direction.init(ctx, { edit: { tokens: image, keep_PP: keep } });
    while (!state.done) state = direction.step(state, ctx);
    const out = direction.finalTokens(state, ctx) as DiscreteTokens;
    direction.dispose(state);
    const last = Array.from(F.readSync(out.indices[2]));
    keep.forEach((k, i) => { if (k === 1) expect(last[i]).to.equal(i % 16); });
    expect(Array.from(F.readSync(out.indices[0]))).to.deep.equal([3]); // a 1-token scale is always kept
    disposeTokens(F, out);
    F.dispose([...image, ctx.labels, ctx.nullLabels]);
  });

  it('samples HART-like: residual head at the last scale, hybrid tokens carry the residual', () => {
    const g = buildTiny(F, tinyHart(), 2);
    try {
      expect(g.head.residual?.id).to.equal('head/diffusion');
      const before = F.liveTensors();
      const { images, tokens } = new Sampler(g).sample({ labels: [0, 1], settings: { cfg: 3, smooth: true }, seed: 2 });
      expect(images.shape).to.deep.equal([2, 3, 8, 8]);
      const t = tokens as DiscreteTokens;
      expect(t.residual?.shape).to.deep.equal([2, 8, 4, 4]);
      F.dispose(images);
      disposeTokens(F, t);
      expect(F.liveTensors()).to.equal(before);
    } finally {
      disposeGenerator(g);
    }
  });

  it('runs on continuous tokens through the generic pyramid (VAR with continuous tokens)', () => {
    const pns = [1, 2, 4];
    const g = buildTiny(F, { name: 'tiny-var-continuous', tokenizer: vae(), direction: { use: 'scale', options: { patchNums: pns } }, head: diffusion(), backbone: adaln(pns, 4) }, 4);
    try {
      const latent = F.tidy(() => F.tensor(Float32Array.from({ length: 2 * 4 * 16 }, (_, i) => Math.sin(i)), [2, 4, 4, 4]));
      const ex = g.direction.trainingExample({ kind: 'continuous', latent }, g.tokenizer, SeededDraws.fromSeed(0));
      expect(ex.inputs.shape).to.deep.equal([2, 20, 4]);
      expect(ex.target.values?.shape).to.deep.equal([42, 4]);
      // The targets of all scales, up-sampled and summed, give the latent back.
      F.dispose([latent, ex.inputs, ex.levels as Tensor, ex.target.values as Tensor, ex.weights as Tensor]);
      const { images, tokens } = new Sampler(g).sample({ labels: [1, 2], settings: { cfg: 2 }, seed: 1 });
      expect(images.shape).to.deep.equal([2, 3, 8, 8]);
      expect(tokens.kind === 'continuous' && tokens.latent.shape).to.deep.equal([2, 4, 4, 4]);
      F.dispose(images);
      disposeTokens(F, tokens);
    } finally {
      disposeGenerator(g);
    }
  });

  it('refuses unknown options and a scale list that disagrees with the tokenizer', () => {
    expect(plugin.options.safeParse({ lastScale: 'own' }).success).to.equal(false);
    const g = buildTiny(F, tinyVar({ patchNums: [1, 3, 4] }), 1);
    try {
      g.direction.schedule(g.tokenizer);
      expect.fail('expected CONFIG_INVALID');
    } catch (e) {
      expect(isTesseraError(e) && e.code).to.equal('CONFIG_INVALID');
    } finally {
      disposeGenerator(g);
    }
  });
});
