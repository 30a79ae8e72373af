/**
 * `tessera bench`: the whole benchmark run behind `npm run bench` (issue 7). Every figure
 * is reported beside a baseline measured in the same run (onnx against tfjs on the tiny
 * presets; achieved GFLOP/s against this run's traced matmul and the machine's ~210
 * GFLOP/s fp32 limit) or against the peer's seconds from PEER_BENCH.md (the official code
 * on this kind of machine). Modes: `quick` (minutes: tiny presets, matmul, VAR-d16),
 * `default` (< 10 minutes: adds HART-256, FAR-B and MAR-B with reduced diffusion steps,
 * labelled as such, forward steps and a training step), `full` (the PEER_BENCH settings,
 * batch 1 and 8: tens of minutes). Nothing is extrapolated: every figure was measured.
 */
import type { Precision } from '../engine/onnx/quantize';
import type { Engine } from '../engine/engine';
import { OnnxEngine } from '../engine/onnx/engine';
import { TfjsEngine } from '../engine/tfjs/engine';
import type { Generator } from '../contracts/generator';
import { tokenTensors } from '../contracts/token-space';
import type { Tensor } from '../engine/ops';
import { Sampler, type SamplerSettingsInput } from '../sampler/sampler';
import { describeMachine, type MachineInfo } from './machine';
import { bestMs, forwardStep, matmulBenchmark, type MatmulResult, trainingStepBenchmark, type TrainingStepResult } from './kernels';
import { FP32_LIMIT_GFLOPS, PEER_MATMUL_GFLOPS, peerFigure, type PeerFigure } from './peer';
import { buildGenerator, disposeGenerator, findConfigDir, type Json, releasedPreset, samplingOf, tinyPreset } from './presets';
import { timeSampling, type SamplingRun } from './sampling';

export type BenchMode = 'quick' | 'default' | 'full';

export interface BenchOptions {
  mode?: BenchMode;
  /** Folder of the preset configs (default: `configs/` found upwards from the working directory). */
  configDir?: string;
  /** Where plugin packages resolve from (default: the working directory). */
  searchPaths?: string[];
  /** onnx device (`cpu` here). */
  device?: 'cpu' | 'cuda' | 'auto';
  /** Intra-op threads of the onnx engine (default: the machine's cores). */
  threads?: number;
  /** Busy-waiting onnxruntime threads while sampling (default false). */
  spinning?: boolean;
  /** onnx engine precision (default fp32; `int8`: int8 linear layers in traced graphs). */
  precision?: Precision;
  /** Only these presets (tiny and released names). */
  only?: string[];
  /**
   * Diffusion steps of the plan's FAR/MAR runs instead of the plan's own (e.g. '25'), each run
   * then after a warm-up (for side-by-side comparisons; duplicates dropped).
   */
  diffusionSteps?: string;
  log?(line: string): void;
}

export interface TinyResult {
  preset: string;
  source: string;
  batch: number;
  tfjs: SamplingRun;
  onnx: SamplingRun;
  /** onnx images/s ÷ tfjs images/s (issue 7 target ≥ 5). */
  speedup: number;
  /** Same seed, same tokens on both engines (discrete: exact; continuous: max |Δ| ÷ max |x| of the values < 1e-4). */
  tokensMatch: boolean;
  maxTokenDifference: number;
}

export interface ReleasedResult {
  preset: string;
  source: string;
  batch: number;
  settings: SamplerSettingsInput & { directionOptions?: Json };
  /** Where the settings differ from the peer's measured row, in words (empty = the peer's settings). */
  reduced: string;
  onnx: SamplingRun;
  peer?: PeerFigure;
  /** peer seconds ÷ Tessera seconds per image (issue 7 targets: VAR-d16 ≥ 1.4, FAR-B and MAR-B ≥ 1.2). */
  speedupVsPeer?: number;
}

export interface ForwardStepResult {
  preset: string;
  what: string;
  tfjsMs: number;
  onnxMs: number;
  speedup: number;
}

export interface BenchReport {
  mode: BenchMode;
  machine: MachineInfo;
  startedAt: string;
  seconds: number;
  fp32LimitGflops: number;
  matmul: { runs: MatmulResult[]; best: MatmulResult; peerGflops: number };
  tiny: TinyResult[];
  released: ReleasedResult[];
  forwardSteps: ForwardStepResult[];
  training?: TrainingStepResult;
  notes: string[];
}

interface ReleasedPlan {
  preset: string;
  batch: number;
  diffusionSteps?: string;
  directionOptions?: Json;
  repeats: number;
  /** A warm-up run first (default true); without one the run includes tracing and session creation (said in `reduced`). */
  warmup?: boolean;
  reduced: string;
}

function releasedPlan(mode: BenchMode): ReleasedPlan[] {
  if (mode === 'quick') return [{ preset: 'var-d16', batch: 1, repeats: 1, reduced: '' }];
  const mar = { numIterations: 64 };
  if (mode === 'default') {
    return [
      { preset: 'var-d16', batch: 1, repeats: 2, reduced: '' },
      { preset: 'hart-256', batch: 1, repeats: 1, reduced: '' },
      { preset: 'far-b', batch: 1, diffusionSteps: '25', repeats: 1, warmup: false, reduced: 'one cold run: includes tracing and session creation' },
      { preset: 'mar-b', batch: 1, diffusionSteps: '10', directionOptions: mar, repeats: 1, warmup: false, reduced: '10 diffusion steps instead of 100, one cold run (no peer row at these settings)' },
    ];
  }
  return [
    { preset: 'var-d16', batch: 1, repeats: 3, reduced: '' },
    { preset: 'var-d16', batch: 8, repeats: 2, reduced: '' },
    { preset: 'hart-256', batch: 1, repeats: 3, reduced: '' },
    { preset: 'hart-256', batch: 8, repeats: 1, reduced: '' },
    { preset: 'far-b', batch: 1, diffusionSteps: '100', repeats: 1, reduced: '' },
    { preset: 'far-b', batch: 1, diffusionSteps: '25', repeats: 1, reduced: '' },
    { preset: 'far-b', batch: 8, diffusionSteps: '25', repeats: 1, reduced: '25 diffusion steps (no peer row at batch 8)' },
    { preset: 'mar-b', batch: 1, diffusionSteps: '100', directionOptions: mar, repeats: 1, reduced: '' },
    { preset: 'mar-b', batch: 8, diffusionSteps: '25', directionOptions: mar, repeats: 1, reduced: '25 diffusion steps (no peer row at batch 8)' },
  ];
}

/** The plan with its diffusion runs at `steps` steps, each warmed up; duplicates dropped. */
function withDiffusionSteps(plans: ReleasedPlan[], steps: string): ReleasedPlan[] {
  const out: ReleasedPlan[] = [];
  for (const p of plans) {
    const q = p.diffusionSteps === undefined ? p : {
      ...p, diffusionSteps: steps, warmup: true,
      reduced: peerFigure(p.preset, p.batch, steps) ? '' : `${steps} diffusion steps (--diffusion-steps; no peer row at these settings)`,
    };
    if (!out.some((o) => o.preset === q.preset && o.batch === q.batch && o.diffusionSteps === q.diffusionSteps)) out.push(q);
  }
  return out;
}

const TINY = ['var-tiny', 'far-tiny', 'mar-tiny', 'hart-tiny'];

/** Host copies of a run's tokens for cross-engine comparison: indices (exact) and continuous values. */
interface TokenData { indices: Float32Array[]; values: Float32Array[] }

function tokenData(F: Engine, generator: Generator, settings: SamplerSettingsInput, seed: number): TokenData {
  const { images, tokens } = new Sampler(generator).sample({ labels: [7], settings, seed });
  F.dispose(images);
  const read = (t: Tensor): Float32Array => Float32Array.from(F.readSync(t));
  const out: TokenData = tokens.kind === 'continuous'
    ? { indices: [], values: [read(tokens.latent)] }
    : { indices: tokens.indices.map(read), values: tokens.residual ? [read(tokens.residual)] : [] };
  F.dispose(tokenTensors(tokens));
  return out;
}

/**
 * Indices must be equal; continuous values within 1e-4 relative to the largest magnitude
 * (float32 kernels differ in summation order; random weights give latents far from unit scale).
 */
function compareTokens(a: TokenData, b: TokenData): { match: boolean; maxDiff: number } {
  const indicesEqual = a.indices.every((x, k) => x.every((v, i) => v === b.indices[k][i]));
  let maxDiff = 0, scale = 1;
  a.values.forEach((x, k) => x.forEach((v, i) => {
    maxDiff = Math.max(maxDiff, Math.abs(v - b.values[k][i]));
    scale = Math.max(scale, Math.abs(v));
  }));
  return { match: indicesEqual && maxDiff / scale < 1e-4, maxDiff: maxDiff / scale };
}

export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const mode = options.mode ?? 'default';
  const log = options.log ?? (() => undefined);
  const t0 = Date.now();
  const configDir = findConfigDir(options.configDir);
  const searchPaths = options.searchPaths ?? [process.cwd()];
  const wanted = (name: string): boolean => !options.only || options.only.includes(name);
  const notes: string[] = [];
  const machine = describeMachine();
  const onnx = await OnnxEngine.create({ device: options.device ?? 'auto', threads: options.threads, spinning: options.spinning ?? false, precision: options.precision ?? 'fp32' });
  const tfjs = await TfjsEngine.create();
  notes.push(`tfjs engine backend: ${tfjs.info.backend}; onnx engine device: ${onnx.info.backend}, ${options.threads ?? machine.cores} intra-op threads, spinning ${options.spinning ?? false}, precision ${onnx.precision}`);

  // Baseline: GEMM speed inside a traced graph, several tries (the machine is shared).
  const matmulRuns: MatmulResult[] = [];
  for (let i = 0; i < (mode === 'quick' ? 1 : 3); i++) {
    matmulRuns.push(await matmulBenchmark(1024, 2, true));
    log(`matmul 1024^3 in a traced graph: ${matmulRuns[i].gflopsPerSecond.toFixed(1)} GFLOP/s`);
  }
  const bestMatmul = matmulRuns.reduce((a, b) => (b.gflopsPerSecond > a.gflopsPerSecond ? b : a));

  // Tiny presets on both engines.
  const tiny: TinyResult[] = [];
  for (const name of TINY.filter(wanted)) {
    const { config, source } = tinyPreset(name, configDir);
    const settings = samplingOf(config) as SamplerSettingsInput;
    const runs: Partial<Record<'tfjs' | 'onnx', SamplingRun>> = {};
    const tokens: Partial<Record<'tfjs' | 'onnx', TokenData>> = {};
    for (const [engineName, F] of [['onnx', onnx], ['tfjs', tfjs]] as const) {
      const g = buildGenerator(F, config, searchPaths);
      try {
        tokens[engineName] = tokenData(F, g, settings, 11);
        runs[engineName] = timeSampling(g, { batch: 1, settings, repeats: mode === 'quick' ? 1 : 3 }); // best of 3 after a warm-up, both engines
      } finally {
        disposeGenerator(g);
      }
      log(`${name} ${engineName}: ${(runs[engineName] as SamplingRun).secondsPerImage.toFixed(3)} s/image`);
    }
    const cmp = compareTokens(tokens.onnx as TokenData, tokens.tfjs as TokenData);
    const r = { onnx: runs.onnx as SamplingRun, tfjs: runs.tfjs as SamplingRun };
    tiny.push({ preset: name, source, batch: 1, ...r, speedup: r.onnx.imagesPerSecond / r.tfjs.imagesPerSecond, tokensMatch: cmp.match, maxTokenDifference: cmp.maxDiff });
  }

  // Training step on tfjs (the differentiable engine).
  let training: TrainingStepResult | undefined;
  if (mode !== 'quick' && wanted('var-tiny')) {
    const { config } = tinyPreset('var-tiny', configDir);
    const g = buildGenerator(tfjs, config, searchPaths);
    try {
      training = trainingStepBenchmark('var-tiny', g, 4);
      log(`training step var-tiny batch 4 (tfjs): ${training.bestMs.toFixed(0)} ms`);
    } catch (e) {
      notes.push(`training step not measured: ${(e as Error).message}`);
    } finally {
      disposeGenerator(g);
    }
  }

  // Released architectures on the onnx engine (random weights).
  const released: ReleasedResult[] = [];
  const forwardSteps: ForwardStepResult[] = [];
  if (!configDir) notes.push('configs/ not found: released architectures skipped');
  const plans = options.diffusionSteps ? withDiffusionSteps(releasedPlan(mode), options.diffusionSteps) : releasedPlan(mode);
  for (const plan of configDir ? plans.filter((p) => wanted(p.preset)) : []) {
    const { config, source } = releasedPreset(plan.preset, configDir);
    const direction = config.direction as { use: string; options?: Json };
    const cfg = plan.directionOptions ? { ...config, direction: { ...direction, options: { ...(direction.options ?? {}), ...plan.directionOptions } } } : config;
    const settings: SamplerSettingsInput = { ...(samplingOf(cfg) as SamplerSettingsInput), ...(plan.diffusionSteps ? { diffusionSteps: plan.diffusionSteps } : {}) };
    log(`${plan.preset} batch ${plan.batch}: building (random weights)...`);
    const g = buildGenerator(onnx, cfg, searchPaths);
    try {
      const run = timeSampling(g, { batch: plan.batch, settings, repeats: plan.repeats, warmup: plan.warmup ?? true, onRun: (s) => log(`  ${plan.preset} batch ${plan.batch}: ${s.toFixed(2)} s`) });
      // A cold run at the peer's settings is still compared (the peer's figure is warm: it is the conservative side).
      const comparable = !plan.reduced || plan.warmup === false && !plan.reduced.includes('instead');
      const peer = comparable ? peerFigure(plan.preset, plan.batch, plan.diffusionSteps) : undefined;
      released.push({
        preset: plan.preset, source, batch: plan.batch, settings: { ...settings, ...(plan.directionOptions ? { directionOptions: plan.directionOptions } : {}) }, reduced: plan.reduced, onnx: run,
        ...(peer ? { peer, speedupVsPeer: peer.secondsPerImage / run.secondsPerImage } : {}),
      });
      // The tfjs engine (wasm) takes tens of seconds for these; MAR-B's forward only in --full.
      const forwardPresets = mode === 'full' ? ['var-d16', 'mar-b'] : ['var-d16'];
      if (mode !== 'quick' && plan.batch === 1 && forwardPresets.includes(plan.preset) && !forwardSteps.some((f) => f.preset === plan.preset)) {
        try {
          forwardSteps.push(forwardStepComparison(plan.preset, g, cfg, tfjs, searchPaths, log));
        } catch (e) {
          notes.push(`${plan.preset}: the tfjs forward step failed (${(e as Error).message})`);
        }
      }
    } finally {
      disposeGenerator(g);
    }
  }

  return {
    mode, machine, startedAt: new Date(t0).toISOString(), seconds: (Date.now() - t0) / 1000, fp32LimitGflops: FP32_LIMIT_GFLOPS,
    matmul: { runs: matmulRuns, best: bestMatmul, peerGflops: PEER_MATMUL_GFLOPS }, tiny, released, forwardSteps, ...(training ? { training } : {}), notes,
  };
}

/** One forward step of a released transformer on tfjs (wasm) and on onnx. */
function forwardStepComparison(preset: string, onnxGenerator: Generator, config: Json, tfjs: Engine, searchPaths: string[], log: (s: string) => void): ForwardStepResult {
  const what = onnxGenerator.backbone.step ? 'transformer over scales 0-2 with the KV cache, 2 rows (cfg)' : 'encoder + decoder with every token unknown (first AR step), 2 rows (cfg)';
  const onnxMs = bestMs(forwardStep(onnxGenerator, 3), 2);
  const g = buildGenerator(tfjs, config, searchPaths);
  try {
    const tfjsMs = bestMs(forwardStep(g, 3), 1, false);
    log(`${preset} forward step: tfjs ${tfjsMs.toFixed(0)} ms, onnx ${onnxMs.toFixed(0)} ms`);
    return { preset, what, tfjsMs, onnxMs, speedup: tfjsMs / onnxMs };
  } finally {
    disposeGenerator(g);
  }
}
