/**
 * The reverse loop runs several steps per compiled graph; with `onStep` each step is its
 * own chunk. Both must give the same samples and consume the same draws, on the eager
 * engine (bit for bit) and on the tracing one (to float tolerance, against eager).
 */
import { expect } from 'chai';
import { Engine, OnnxEngine, SeededDraws, TfjsEngine } from '@tessera/core';
import { DiffusionHead, DiffusionHeadOptionsInput } from '@tessera/head-diffusion';
import { C, randomHead, Z } from './random-head';

/** Samples 6 rows (3 guided pairs) with 13 steps: chunks of 10 + 3, or 13 single steps with `perStep`. */
function sample(engine: Engine, head: DiffusionHead, perStep: boolean): { values: Float32Array; after: number } {
  const z = engine.tensor(SeededDraws.fromSeed(2).normal([6, Z]), [6, Z]);
  const draws = SeededDraws.fromSeed(9);
  const x = head.sampleTokens(z, undefined, { temperature: 0.9, cfg: 2.5, guided: true, steps: '13', draws, ...(perStep ? { onStep: () => undefined } : {}) });
  const values = Float32Array.from(engine.readSync(x) as Float32Array);
  engine.dispose([x, z]);
  return { values, after: draws.normal([1])[0] };
}

describe('head-diffusion fused reverse steps', () => {
  let tfjs: Engine;
  let onnx: OnnxEngine;
  before(async () => {
    tfjs = await TfjsEngine.create();
    onnx = await OnnxEngine.create({ device: 'cpu', threads: 1 });
  });

  it('the net given one step shared by all rows equals the net given that step on every row (both engines)', () => {
    for (const engine of [tfjs, onnx]) {
      const head = randomHead(engine, { levelConditioning: true, numSamplingSteps: '13' });
      const x = engine.tensor(SeededDraws.fromSeed(4).normal([6, C]), [6, C]);
      const z = engine.tensor(SeededDraws.fromSeed(5).normal([6, Z]), [6, Z]);
      const level = engine.tensor(Int32Array.from([0, 1, 2, 3, 4, 5]), [6], 'int32');
      const perRow = head.net.forward(x, Int32Array.from({ length: 6 }, () => 417), z, level);
      const shared = head.net.forward(x, engine.tensor(Int32Array.from([417]), [1], 'int32'), z, level);
      const a = engine.readSync(perRow) as Float32Array, b = engine.readSync(shared) as Float32Array;
      expect(shared.shape).to.deep.equal(perRow.shape);
      for (let i = 0; i < a.length; i++) expect(b[i]).to.be.closeTo(a[i], 1e-5 * (1 + Math.abs(a[i])));
      expect(() => head.net.forward(x, Int32Array.from([1, 2]), z, level)).to.throw(/t has 2/);
      engine.dispose([x, z, level, perRow, shared]);
    }
  });

  for (const mode of ['token', 'residual'] as const) {
    it(`chunks of steps equal single steps (${mode} mode)`, () => {
      const extra: DiffusionHeadOptionsInput = mode === 'residual' ? { mode: 'residual', numSamplingSteps: '13' } : { numSamplingSteps: '13' };
      const eager = randomHead(tfjs, extra);
      const live = tfjs.liveTensors();
      const fused = sample(tfjs, eager, false);
      const single = sample(tfjs, eager, true);
      expect(tfjs.liveTensors()).to.equal(live);
      expect(Array.from(fused.values)).to.deep.equal(Array.from(single.values));
      expect(fused.after).to.equal(single.after); // the same draws were consumed
      const traced = randomHead(onnx, extra);
      const onnxFused = sample(onnx, traced, false);
      const onnxSingle = sample(onnx, traced, true);
      expect(onnxFused.after).to.equal(fused.after);
      for (let i = 0; i < fused.values.length; i++) {
        expect(onnxFused.values[i]).to.be.closeTo(fused.values[i], 1e-4 * (1 + Math.abs(fused.values[i])));
        expect(onnxSingle.values[i]).to.be.closeTo(fused.values[i], 1e-4 * (1 + Math.abs(fused.values[i])));
      }
    });
  }
});
