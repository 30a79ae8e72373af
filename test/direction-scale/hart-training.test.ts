/**
 * HART's training path (spec/hart.md §4.7–4.8) on a tiny hybrid generator: direction
 * `scale` masks the last scale and attaches the residual target, backbone `adaln`
 * (variant `hart`) runs on the kept tokens, head `categorical` adds its composed residual
 * diffusion head's loss to the cross-entropy. Checks: the masking quirk, the example's
 * shapes and residual target, a finite loss whose gradients reach the residual head and
 * the backbone, and a loss that falls over a few SGD steps.
 */
import { expect } from 'chai';
import {
  DiscreteTokens, DrawSource, Engine, Generator, isTesseraError, Rng, SeededDraws, Tensor, TfjsEngine, TrainingExample,
} from '@tessera/core';
import { disposeExample, drawLastScaleMask, maskedCount } from '@tessera/direction-scale';
import { adaln, buildTiny, categorical, disposeGenerator, msvq } from './tiny';

const PNS = [1, 2, 5];
const N = 25;

/** A HART-like config whose last scale (5x5) is large enough to be masked (N − 32 < 0 masks 2N − 32 = 18). */
function tinyHartTraining(topK: number): Record<string, unknown> {
  return {
    name: 'tiny-hart-training',
    tokenizer: msvq(PNS, { hybrid: true, resolution: 10 }),
    direction: { use: 'scale', options: { lastScaleGuidance: 'previous', hartTopK: true, lastScaleMasking: true } },
    head: categorical({
      norm: 'rms',
      residualTraining: { topK },
      residual: { use: 'diffusion', options: { mode: 'residual', tokenDim: 8, zChannels: 32, width: 16, depth: 1, batchMultiplier: 2 } },
    }),
    backbone: adaln(PNS, 8, { variant: 'hart' }),
  };
}

class CountingDraws extends SeededDraws {
  multinomials = 0;

  override multinomial(weights: Float32Array, rows: number, cols: number, numSamples: number): Int32Array {
    this.multinomials++;
    return super.multinomial(weights, rows, cols, numSamples);
  }
}

/** Example, backbone forward and head loss, as a trainer runs them; the caller frees the example. */
function hartLoss(F: Engine, g: Generator, ex: TrainingExample, labels: Tensor, draws: DrawSource): Tensor {
  return F.tidy(() => {
    const { hidden, cond } = g.backbone.forward({ inputs: ex.inputs, labels, attention: ex.attention, levels: ex.levels, positions: ex.positions });
    const loss = g.head.loss({ z: hidden, cond, residualCondition: g.backbone.residualCondition?.bind(g.backbone) }, ex.target, ex.weights, draws);
    return ex.lossScale === undefined ? loss : F.mul(loss, ex.lossScale);
  });
}

describe('direction-scale HART training', () => {
  let F: Engine;
  let g: Generator;
  let tokens: DiscreteTokens;
  let labels: Tensor;

  before(async () => {
    F = await TfjsEngine.create();
    g = buildTiny(F, tinyHartTraining(8), 5);
    const rng = new Rng(11);
    // MAR's init zeroes the denoiser's AdaLN and output layers, which would stop every
    // gradient but theirs at step 0; small values let the check see the whole path.
    for (const [, p] of g.head.module.trainableParameters()) {
      const v = F.readSync(p.value);
      if (v.every((x) => x === 0)) p.set(F.tensor(Float32Array.from(v, () => rng.normal() * 0.02), [...p.shape]));
    }
    const images = F.tensor(Float32Array.from({ length: 2 * 3 * 10 * 10 }, () => rng.uniform() * 2 - 1), [2, 3, 10, 10]);
    tokens = g.tokenizer.encode(images) as DiscreteTokens;
    F.dispose(images);
    labels = F.tensor(Int32Array.of(3, 7), [2], 'int32');
  });
  after(() => {
    F.dispose([...tokens.indices, tokens.residual as Tensor, labels]);
    disposeGenerator(g);
  });

  it('masks the last scale as the official slice does (quirk Q13)', () => {
    expect(maskedCount(100, 0.68)).to.equal(68);
    expect(maskedCount(100, 0.9)).to.equal(68); // at most N − 32
    expect(maskedCount(25, 0.6)).to.equal(18); // negative slice end: all but the last 7
    expect(maskedCount(31, 0.99)).to.equal(30);
    expect(maskedCount(16, 1)).to.equal(0);
    expect(maskedCount(32, 0.7)).to.equal(0);
    const { kept, K } = drawLastScaleMask(SeededDraws.fromSeed(3), 3, 100);
    expect(K).to.be.within(32, 50);
    for (const row of kept) {
      expect(row.length).to.equal(K);
      expect(Array.from(row)).to.deep.equal([...row].sort((a, b) => a - b));
      expect(new Set(row).size).to.equal(K);
    }
    expect(Array.from(kept[0])).to.not.deep.equal(Array.from(kept[1]));
  });

  it('builds the masked example with the residual target relative to the drawn code', () => {
    const before = F.liveTensors();
    const ex = g.direction.trainingExample(tokens, g.tokenizer, SeededDraws.fromSeed(1));
    const K = N - 18;
    const L = 1 + 4 + 25;
    expect(ex.inputs.shape).to.deep.equal([2, L - 1 - N + K, 8]);
    expect(ex.positions?.shape).to.deep.equal([2, L - 1 - N + K]);
    expect(ex.attention).to.deep.equal({ kind: 'block-causal', blockSizes: [1, 4, K] });
    expect(ex.target.indices?.shape).to.deep.equal([2 * (L - N + K)]);
    const residual = ex.target.residual;
    expect(residual?.rows.shape).to.deep.equal([2 * K]);
    expect(residual?.values.shape).to.deep.equal([2 * K, 8]);
    expect(residual?.codebook.shape).to.deep.equal([16, 8]);
    // values − codebook[gt] is the tokenizer's residual at the kept positions.
    const positions = F.readSync(ex.positions as Tensor) as Int32Array;
    const I = L - 1 - N + K;
    const check = F.tidy(() => {
      const res_BNC = F.reshape(F.transpose(F.reshape(tokens.residual as Tensor, [2, 8, N]), [0, 2, 1]), [2 * N, 8]);
      const keptRows = Int32Array.from({ length: 2 * K }, (_, r) => Math.floor(r / K) * N + positions[Math.floor(r / K) * I + I - K + (r % K)] - (I - K));
      const gt_R = F.gather(F.reshape(ex.target.indices as Tensor, [-1]), residual?.rows as Tensor, 0);
      const back = F.sub(residual?.values as Tensor, F.gather(residual?.codebook as Tensor, gt_R, 0));
      return F.max(F.abs(F.sub(back, F.gather(res_BNC, F.tensor(keptRows, [2 * K], 'int32'), 0))));
    });
    expect(F.readSync(check)[0]).to.be.below(1e-5);
    F.dispose(check);
    disposeExample(F, ex);
    expect(F.liveTensors()).to.equal(before);
  });

  it('gives a finite loss whose gradients reach the residual head and the backbone', () => {
    const draws = SeededDraws.fromSeed(2);
    const ex = g.direction.trainingExample(tokens, g.tokenizer, draws);
    const params = [...g.backbone.module.trainableParameters(), ...g.head.module.trainableParameters()];
    const { value, grads } = F.valueAndGrads(() => hartLoss(F, g, ex, labels, draws), params.map(([, p]) => p.asVariable));
    const loss = F.readSync(value)[0];
    expect(Number.isFinite(loss)).to.equal(true);
    const norm = (key: string): number => {
      const i = params.findIndex(([k]) => k === key);
      expect(i, key).to.be.at.least(0);
      return Math.sqrt(Array.from(F.readSync(grads[i])).reduce((a, v) => a + v * v, 0));
    };
    for (const key of ['diffloss.net.input_proj.weight', 'diffloss.net.cond_embed.weight', 'head.weight', 'decoder_norm.weight', 'word_embed.weight', 'blocks.0.ffn.up_proj.weight']) {
      expect(norm(key), key).to.be.above(0);
    }
    F.dispose([value, ...grads]);
    disposeExample(F, ex);
  });

  it('refuses a residual head without a residual target, and falls back to the gt tokens when top-k exceeds the vocabulary', () => {
    const ex = g.direction.trainingExample(tokens, g.tokenizer, SeededDraws.fromSeed(4));
    const { residual, ...plainTarget } = ex.target;
    try {
      expect(() => hartLoss(F, g, { ...ex, target: plainTarget }, labels, SeededDraws.fromSeed(0))).to.throw().that.satisfies((e: unknown) => isTesseraError(e) && e.code === 'PLUGIN_INCOMPATIBLE');
      expect(residual).to.not.equal(undefined);
    } finally {
      disposeExample(F, ex);
    }
    // topK 600 > 16 codes: no multinomial draw, the drawn tokens are the ground truth (Q4).
    const gtGen = buildTiny(F, tinyHartTraining(600), 5);
    const counting = new CountingDraws(new Rng(6));
    const ex2 = gtGen.direction.trainingExample(tokens, gtGen.tokenizer, counting);
    const loss = hartLoss(F, gtGen, ex2, labels, counting);
    expect(Number.isFinite(F.readSync(loss)[0])).to.equal(true);
    expect(counting.multinomials).to.equal(0);
    F.dispose(loss);
    disposeExample(F, ex2);
    disposeGenerator(gtGen);
  });

  it('lowers the loss over a few SGD steps on one batch', () => {
    const seeded = (): DrawSource => SeededDraws.fromSeed(9); // the same masks, tokens, t and ε every step
    const params = [...g.backbone.module.trainableParameters(), ...g.head.module.trainableParameters()].map(([, p]) => p);
    const losses: number[] = [];
    for (let step = 0; step < 6; step++) {
      const draws = seeded();
      const ex = g.direction.trainingExample(tokens, g.tokenizer, draws);
      const { value, grads } = F.valueAndGrads(() => hartLoss(F, g, ex, labels, draws), params.map((p) => p.asVariable));
      losses.push(F.readSync(value)[0]);
      params.forEach((p, i) => p.set(F.tidy(() => F.sub(p.value, F.mul(grads[i], 0.05)))));
      F.dispose([value, ...grads]);
      disposeExample(F, ex);
    }
    expect(losses.every(Number.isFinite)).to.equal(true);
    expect(losses[losses.length - 1], losses.join(', ')).to.be.below(losses[0]);
  });
});
