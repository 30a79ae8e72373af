/**
 * Kernel-level benchmarks: a 1024×1024 fp32 matmul inside a traced graph (the GEMM speed
 * everything else is bounded by; issue 7 asks ≥ 150 GFLOP/s with 2 intra-op threads), one
 * training step on the tfjs engine (the only differentiable one), and one forward step of
 * a large model on both engines (the tfjs engine runs on wasm here, far too slow to sample
 * the released models: its share of a forward step is what is reported).
 */
import type { Engine } from '../engine/engine';
import type { Tensor } from '../engine/ops';
import type { Generator } from '../contracts/generator';
import { OnnxEngine } from '../engine/onnx/engine';
import { Rng } from '../rng/rng';
import { resolveTraining } from '../trainer/options';
import { Trainer } from '../trainer/trainer';

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

export interface MatmulResult {
  n: number;
  threads: number;
  spinning: boolean;
  /** Best of `repeats` calls, milliseconds. */
  bestMs: number;
  medianMs: number;
  gflopsPerSecond: number;
}

/** n×n @ n×n in a compiled graph on a fresh onnx engine (`threads` intra-op threads). */
export async function matmulBenchmark(n = 1024, threads = 2, spinning = true, repeats = 30): Promise<MatmulResult> {
  const F = await OnnxEngine.create({ device: 'cpu', threads, spinning });
  const rng = new Rng(3);
  const a = F.tensor(Float32Array.from({ length: n * n }, () => rng.uniform() - 0.5), [n, n]);
  const b = F.tensor(Float32Array.from({ length: n * n }, () => rng.uniform() - 0.5), [n, n]);
  const mm = F.compile((x: Tensor) => F.matmul(x, b), { name: 'matmul' }); // b is an initializer: pre-packed once
  try {
    F.dispose(mm(a));
    const times: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const t0 = now();
      const y = mm(a);
      times.push(now() - t0);
      F.dispose(y);
    }
    times.sort((x, y) => x - y);
    const bestMs = times[0];
    return { n, threads, spinning, bestMs, medianMs: times[times.length >> 1], gflopsPerSecond: (2 * n ** 3) / (bestMs / 1000) / 1e9 };
  } finally {
    mm.dispose();
    F.dispose([a, b]);
  }
}

export interface TrainingStepResult {
  preset: string;
  batch: number;
  /** Best step time over the measured steps, ms (after one warm-up step). */
  bestMs: number;
  imagesPerSecond: number;
}

/** `steps` AdamW steps of the generator on random images (tfjs engine). */
export function trainingStepBenchmark(preset: string, generator: Generator, batch: number, steps = 3): TrainingStepResult {
  const { options } = resolveTraining({ batchSize: batch }, 'generator', generator.head.id.split('/').pop() ?? 'categorical');
  const trainer = new Trainer(generator, options);
  const [H, W] = generator.tokenizer.resolution;
  const rng = new Rng(5);
  const images = Float32Array.from({ length: batch * 3 * H * W }, () => rng.uniform() * 2 - 1);
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
  try {
    trainer.trainStep({ images, labels });
    let bestMs = Infinity;
    for (let i = 0; i < steps; i++) {
      const t0 = now();
      trainer.trainStep({ images, labels });
      bestMs = Math.min(bestMs, now() - t0);
    }
    return { preset, batch, bestMs, imagesPerSecond: batch / (bestMs / 1000) };
  } finally {
    trainer.dispose();
  }
}

/**
 * One forward step of a large generator's transformer: for a next-scale backbone the
 * first `scales` scales fed through the KV-cached `step` (guided: 2 rows); for an MAE
 * backbone one forward with every token unknown (MAR/FAR's first AR step, 2 rows).
 */
export function forwardStep(generator: Generator, scales = 4): () => void {
  const F = generator.engine;
  const { backbone, tokenizer } = generator;
  const labels = (): Tensor => F.tensor(Int32Array.from([1, 1000]), [2], 'int32');
  const space = tokenizer.space;
  if (backbone.step) {
    const pns = tokenizer.multiScale?.patchNums ?? [1, 2, 3, 4];
    const Cin = space.kind === 'discrete' ? space.embedDim : space.channels;
    const blockSizes = pns.map((p) => p * p);
    return () => {
      let cache: Parameters<NonNullable<typeof backbone.step>>[1];
      for (let k = 0; k < Math.min(scales, pns.length); k++) {
        const inputs = F.zeros([2, k === 0 ? 0 : blockSizes[k], Cin]);
        const labels_R = labels();
        const r = (backbone.step as NonNullable<typeof backbone.step>)({ inputs, labels: labels_R, attention: { kind: 'block-causal', blockSizes } }, cache);
        F.readSync(r.output.hidden);
        cache = r.cache; // the step consumed the previous cache
        F.dispose([inputs, labels_R, r.output.hidden, ...(r.output.cond ? [r.output.cond] : [])]);
      }
      cache?.dispose();
    };
  }
  const [gh, gw] = space.grid;
  const C = space.kind === 'continuous' ? space.channels : 1;
  return () => {
    F.tidy(() => {
      const out = backbone.forward({ inputs: F.zeros([2, gh * gw, C]), labels: labels(), visible: F.zeros([2, gh * gw]), attention: { kind: 'bidirectional' } });
      F.readSync(out.hidden);
    });
  };
}

/** Best of `repeats` calls of `fn` after one warm-up, ms. */
export function bestMs(fn: () => void, repeats: number, warmup = true): number {
  if (warmup) fn();
  let best = Infinity;
  for (let i = 0; i < repeats; i++) {
    const t0 = now();
    fn();
    best = Math.min(best, now() - t0);
  }
  return best;
}

export type { Engine };
