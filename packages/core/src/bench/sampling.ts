/**
 * Timing one generator's sampling: images per second, milliseconds per AR step, and
 * where the time goes (the phases of PEER_BENCH.md: transformer = the backbone's calls,
 * head = the head's sampling, JS filtering and draws included, decoder = the tokenizer's
 * decode; `other` = the rest, the direction's bookkeeping and the tokenizer's per-step
 * accumulation). On the onnx engine the MatMul/Gemm/Conv FLOPs of the compiled graphs
 * run in each phase are counted (engine/onnx/flops.ts), giving achieved GFLOP/s.
 *
 * The phases are measured by wrapping the generator's own objects for the run (and
 * restored after), so the same code path as `tessera sample` is timed.
 */
import type { Engine } from '../engine/engine';
import type { Generator } from '../contracts/generator';
import { tokenTensors } from '../contracts/token-space';
import { Sampler, type SamplerSettingsInput } from '../sampler/sampler';
import { hostContext, type HostContext } from '../sampler/context';
import { Rng } from '../rng/rng';

export type Phase = 'transformer' | 'head' | 'decoder';
export const PHASES: readonly Phase[] = ['transformer', 'head', 'decoder'];

export interface PhaseFigures {
  /** Seconds per image. */
  seconds: number;
  /** Compiled-graph FLOPs per image (onnx engine only). */
  flops?: number;
  gflopsPerSecond?: number;
}

export interface SamplingRun {
  batch: number;
  /** Seconds per batch, each measured run. */
  runs: number[];
  /** The best run, per image (the machines are shared: the best is the least disturbed). */
  secondsPerImage: number;
  imagesPerSecond: number;
  /** AR steps per image and milliseconds per step (whole batch time / steps). */
  steps: number;
  msPerStep: number;
  phases: Record<Phase, PhaseFigures> & { other: { seconds: number } };
  /** Seconds of the first call (tracing, session creation), per batch. */
  warmupSeconds?: number;
}

export interface TimeSamplingOptions {
  batch: number;
  settings: SamplerSettingsInput;
  /** Measured runs after the warm-up (default 3). */
  repeats?: number;
  /** Run once before measuring (default true). */
  warmup?: boolean;
  seed?: number;
  /** Called after each run (progress). */
  onRun?(seconds: number): void;
}

type Stats = { graphRuns: number; flops: number };
const statsOf = (F: Engine): Stats | undefined => (F as unknown as { stats?: Stats }).stats;

/** Wraps `obj[name]` to add its time (and compiled FLOPs) to `acc`; returns the undo. */
function instrument(obj: object | undefined, name: string, F: Engine, acc: { ms: number; flops: number; depth: number }): () => void {
  const target = obj as Record<string, unknown> | undefined;
  const original = target?.[name];
  if (!target || typeof original !== 'function') return () => undefined;
  const own = Object.prototype.hasOwnProperty.call(target, name);
  target[name] = function wrapped(this: unknown, ...args: unknown[]) {
    if (acc.depth > 0) return (original as (...a: unknown[]) => unknown).apply(this, args);
    acc.depth++;
    const flops0 = statsOf(F)?.flops ?? 0;
    const t0 = process.hrtime.bigint();
    try {
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } finally {
      acc.ms += Number(process.hrtime.bigint() - t0) / 1e6;
      acc.flops += (statsOf(F)?.flops ?? 0) - flops0;
      acc.depth--;
    }
  };
  return () => {
    if (own) target[name] = original;
    else delete target[name];
  };
}

/**
 * For text-conditioned backbones (HART): random context features (normal, fixed seed)
 * with the first quarter of the tokens real and the rest padding, as a prompt of about
 * 75 tokens padded to 300; speed does not depend on the values.
 */
function benchContext(generator: Generator, batch: number): HostContext | undefined {
  const spec = generator.backbone.context;
  if (!spec) return undefined;
  const { tokens: T, dim: D } = spec;
  const rng = new Rng(7);
  const features = Float32Array.from({ length: batch * T * D }, () => rng.normal());
  const real = Math.max(1, Math.floor(T / 4));
  const mask = new Uint8Array(batch * T).map((_, i) => (i % T < real ? 1 : 0));
  return hostContext({ dtype: 'float32', shape: [batch, T, D], data: features }, { dtype: 'bool', shape: [batch, T], data: mask }, undefined, 'bench context');
}

/** Samples `batch` images `repeats` times (after a warm-up) and reports the best run. */
export function timeSampling(generator: Generator, options: TimeSamplingOptions): SamplingRun {
  const F = generator.engine;
  const sampler = new Sampler(generator);
  const labels = Array.from({ length: options.batch }, (_, i) => (i * 37) % 1000 % Math.max(1, sampler.nullClass));
  const context = benchContext(generator, options.batch);
  const steps = generator.direction.schedule(generator.tokenizer).length;
  const once = (seed: number): { seconds: number; phases: Record<Phase, { ms: number; flops: number }> } => {
    const acc = Object.fromEntries(PHASES.map((p) => [p, { ms: 0, flops: 0, depth: 0 }])) as Record<Phase, { ms: number; flops: number; depth: number }>;
    const undo = [
      instrument(generator.backbone, 'step', F, acc.transformer),
      instrument(generator.backbone, 'forward', F, acc.transformer),
      instrument(generator.backbone, 'residualCondition', F, acc.transformer),
      instrument(generator.head, 'sample', F, acc.head),
      instrument(generator.head.residual, 'sample', F, acc.head),
      instrument(generator.tokenizer, 'decode', F, acc.decoder),
    ];
    const t0 = process.hrtime.bigint();
    try {
      const { images, tokens } = sampler.sample({ labels, settings: options.settings, seed, context });
      F.readSync(images);
      F.dispose(images);
      F.dispose(tokenTensors(tokens));
    } finally {
      undo.reverse().forEach((u) => u());
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    options.onRun?.(seconds);
    return { seconds, phases: acc };
  };
  const seed = options.seed ?? 1;
  const warmupSeconds = options.warmup === false ? undefined : once(seed).seconds;
  const runs = Array.from({ length: options.repeats ?? 3 }, () => once(seed));
  const best = runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const B = options.batch;
  const counted = statsOf(F) !== undefined;
  const phases = Object.fromEntries(PHASES.map((p) => {
    const seconds = best.phases[p].ms / 1000 / B;
    const flops = counted ? best.phases[p].flops / B : undefined;
    return [p, { seconds, ...(flops !== undefined ? { flops, gflopsPerSecond: seconds > 0 ? flops / seconds / 1e9 : 0 } : {}) }];
  })) as Record<Phase, PhaseFigures>;
  const phaseSum = PHASES.reduce((s, p) => s + phases[p].seconds, 0);
  return {
    batch: B,
    runs: runs.map((r) => r.seconds),
    secondsPerImage: best.seconds / B,
    imagesPerSecond: B / best.seconds,
    steps,
    msPerStep: (best.seconds * 1000) / steps,
    phases: { ...phases, other: { seconds: Math.max(0, best.seconds / B - phaseSum) } },
    ...(warmupSeconds !== undefined ? { warmupSeconds } : {}),
  };
}
