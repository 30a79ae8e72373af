/**
 * The benchmark pieces that can be checked without timing: FLOP counts of traced graphs,
 * phase accounting of a sampling run, the report formatter, engine defaults for sampling.
 * No timing assertions (machines are shared and noisy).
 */
import { expect } from 'chai';
import { bench, defaultSamplingEngine, isTesseraError, OnnxEngine, parseDevice, Tensor } from '@tessera/core';
import { buildTiny, disposeGenerator, tinyVar } from '../../direction-scale/tiny';

describe('core/bench', function () {
  this.timeout(30000);

  it('counts MatMul/Gemm/Conv FLOPs of the compiled graphs an engine runs', async () => {
    const F = await OnnxEngine.create({ device: 'cpu' });
    const w = F.tensor(new Float32Array(16 * 8).fill(0.5), [16, 8]);
    const k = F.tensor(new Float32Array(4 * 3 * 3 * 3).fill(0.1), [4, 3, 3, 3]);
    const fn = F.compile((x: Tensor, img: Tensor) => ({ y: F.linear(F.matmul(x, F.ones([8, 8])), w), z: F.conv2d(img, k, undefined, { padding: 1 }) }));
    const x = F.ones([5, 8]);
    const img = F.ones([2, 3, 6, 6]);
    const before = F.stats.flops;
    const out = fn(x, img);
    expect(F.stats.flops - before).to.equal(2 * 5 * 8 * 8 + 2 * 5 * 16 * 8 + 2 * (2 * 4 * 6 * 6) * (3 * 3 * 3));
    F.dispose([out.y, out.z, x, img, w, k]);
  });

  it('times a sampling run by phase, on the objects it wraps and restores', async () => {
    const F = await OnnxEngine.create({ device: 'cpu' });
    const g = buildTiny(F, tinyVar(), 2);
    const step = g.backbone.step;
    try {
      const run = bench.timeSampling(g, { batch: 2, settings: { cfg: 2 }, repeats: 1 });
      expect(run.steps).to.equal(3);
      expect(run.runs).to.have.length(1);
      const phaseSum = bench.PHASES.reduce((s, p) => s + run.phases[p].seconds, 0) + run.phases.other.seconds;
      expect(phaseSum).to.be.closeTo(run.secondsPerImage, 1e-6);
      expect(run.phases.transformer.flops).to.be.greaterThan(0);
      expect(run.phases.decoder.flops).to.be.greaterThan(0);
      expect(g.backbone.step).to.equal(step);
    } finally {
      disposeGenerator(g);
    }
  });

  it('formats a report with its baselines', () => {
    const run = { batch: 1, runs: [1], secondsPerImage: 1, imagesPerSecond: 1, steps: 10, msPerStep: 100, phases: { transformer: { seconds: 0.5, flops: 5e10, gflopsPerSecond: 100 }, head: { seconds: 0.1 }, decoder: { seconds: 0.3 }, other: { seconds: 0.1 } } };
    const text = bench.formatBench({
      mode: 'quick', machine: { cores: 2, cpuModel: 'cpu', cpuFlags: [], memoryGiB: 1, loadAverage: 0, node: 'v20' }, startedAt: 'now', seconds: 1, fp32LimitGflops: 210,
      matmul: { runs: [{ n: 1024, threads: 2, spinning: true, bestMs: 10, medianMs: 11, gflopsPerSecond: 214.7 }], best: { n: 1024, threads: 2, spinning: true, bestMs: 10, medianMs: 11, gflopsPerSecond: 214.7 }, peerGflops: 205 },
      tiny: [{ preset: 'var-tiny', source: 'built-in', batch: 1, tfjs: { ...run, secondsPerImage: 6, imagesPerSecond: 1 / 6 }, onnx: run, speedup: 6, tokensMatch: true, maxTokenDifference: 0 }],
      released: [{ preset: 'var-d16', source: 'configs/var-d16.json', batch: 1, settings: {}, reduced: '', onnx: run, peer: bench.peerFigure('var-d16', 1), speedupVsPeer: 8.38 }],
      forwardSteps: [], notes: [],
    });
    expect(text).to.contain('6.0x');
    expect(text).to.contain('8.38x');
    expect(text).to.contain('214.7 GFLOP/s');
  });

  it('samples on onnx by default where onnxruntime loads, and checks --device values', () => {
    expect(defaultSamplingEngine()).to.equal('onnx');
    expect(parseDevice('cuda')).to.equal('cuda');
    try {
      parseDevice('gpu');
      expect.fail('gpu is not a device');
    } catch (e) {
      expect(isTesseraError(e) && e.code).to.equal('USAGE');
    }
  });

  it('has built-in tiny presets and the peer figures of PEER_BENCH.md', () => {
    expect(Object.keys(bench.TINY_PRESETS)).to.include.members(['var-tiny', 'far-tiny', 'mar-tiny', 'hart-tiny']);
    expect(bench.peerFigure('var-d16', 1)?.secondsPerImage).to.equal(8.38);
    expect(bench.peerFigure('far-b', 1, '25')?.secondsPerImage).to.equal(74.7);
  });
});
