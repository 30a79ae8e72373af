/**
 * The generic trainer (DESIGN.md: "`Trainer` and `Sampler` are generic over it"): one
 * optimisation step of a generator's transformer, or of its tokenizer, on a batch of
 * images. The generator step follows the official training steps (VAR `trainer.py`
 * `train_step`, MAR/FAR `engine_mar.py` `train_one_epoch` + `MAR.forward`), with each
 * method-specific part delegated to the plugin that owns it:
 *
 *   images → `tokenizer.encode` (frozen; a KL posterior sample for the vae), or the
 *            tokens of a latent cache (MAR `main_cache.py`; the posterior sampled here)
 *          → `direction.trainingExample` (inputs, attention, targets, per-token weights)
 *          → class-label drop for guidance (the `adaln` backbone's `dropLabels`; the
 *            `mae` backbone drops inside its forward from `training.draws`)
 *          → `backbone.forward` → rows [B·L, D] → `head.loss` (label-smoothed CE for
 *            `categorical`, plus HART's residual diffusion loss when it composes a
 *            residual head; the diffusion loss with its batch multiplier for
 *            `diffusion`) × the example's `lossScale`
 *          → gradients of the backbone and head (`engine.valueAndGrads`), global-norm
 *            clipping, AdamW with the scheduled learning rate, EMA.
 *
 * The tokenizer step uses the plugin's own `trainingLoss` (reconstruction + VQ or KL).
 * Every random draw comes from one seeded stream (`rng`), whose state a checkpoint saves.
 * A non-finite loss or gradient norm stops before any weight changes (TRAINING_DIVERGED).
 */
import type { Engine } from '../engine/engine';
import type { Tensor } from '../engine/ops';
import { TesseraError } from '../errors';
import type { BackboneOutput } from '../contracts/backbone';
import type { TrainingExample } from '../contracts/direction';
import type { Generator } from '../contracts/generator';
import type { HeadInput } from '../contracts/head';
import type { Tokens } from '../contracts/token-space';
import { SeededDraws } from '../rng/draws';
import type { HostTensor } from '../tensor/host';
import { cachedTokens } from '../data/cached-latents';
import { Rng } from '../rng/rng';
import { AdamW, clipGradients, decays, Ema, TrainedParameter } from './adamw';
import type { TrainingOptions } from './options';
import { initialProgressiveState, learningRate, ProgressiveState, progressiveStage } from './schedule';

const SUBJECT = 'trainer';

/**
 * A batch: preprocessed images [B, 3, H, W] in [−1, 1], or (generator training from a
 * latent cache, data/latent-cache.ts) the tokenizer's stored tensors; and the classes.
 */
export interface TrainBatch {
  images?: Float32Array;
  stored?: Record<string, HostTensor>;
  labels: Int32Array;
}

export interface StepMetrics {
  /** 1-based number of the step just taken. */
  step: number;
  loss: number;
  /** Learning rate of the step. */
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/** Directions with VAR's progressive training (direction `scale`). */
interface ProgressiveDirection {
  setProgressiveStage(stage: { scale: number; weight: number } | null): void;
}

/** Backbones that drop class labels themselves outside the forward (`adaln`). */
interface LabelDropper {
  dropLabels(labels_B: Tensor, draws: SeededDraws): Tensor;
}

const hasProgressive = (d: unknown): d is ProgressiveDirection => typeof (d as ProgressiveDirection).setProgressiveStage === 'function';
const hasLabelDrop = (b: unknown): b is LabelDropper => typeof (b as LabelDropper).dropLabels === 'function';

/** The trained parameters of a target with their saved keys (transformer layout for the generator). */
export function trainedParameters(g: Generator, o: TrainingOptions): TrainedParameter[] {
  const entries = o.target === 'tokenizer'
    ? g.tokenizer.module.trainableParameters()
    : [
      ...g.backbone.module.trainableParameters(),
      ...g.head.module.trainableParameters().map(([k, p]) => [(g.head.weightPrefix ?? '') + k, p] as const),
    ];
  return entries.map(([key, parameter]) => ({ key, parameter, decay: decays(key, parameter.shape, o) }));
}

export class Trainer {
  readonly F: Engine;
  readonly params: TrainedParameter[];
  readonly optimizer: AdamW;
  readonly ema: Ema | undefined;
  /** The stream behind every training draw (saved and restored by checkpoints). */
  readonly rng: Rng;
  readonly draws: SeededDraws;
  /** Steps taken so far. */
  step = 0;
  progressive: ProgressiveState = initialProgressiveState();

  constructor(readonly generator: Generator, readonly options: TrainingOptions) {
    this.F = generator.engine;
    if (!this.F.info.differentiable) {
      throw new TesseraError('ENGINE_UNAVAILABLE', `engine \`${this.F.info.name}\` cannot differentiate; train with the tfjs engine`, { subject: SUBJECT });
    }
    if (options.target === 'tokenizer' && !generator.tokenizer.trainingLoss) {
      throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${generator.tokenizer.id}\` has no training loss; train a tokenizer that provides one, or load its weights with --tokenizer-weights`, { subject: SUBJECT });
    }
    this.params = trainedParameters(generator, options);
    this.optimizer = new AdamW(this.F, this.params, options);
    this.ema = options.ema === null ? undefined : new Ema(this.F, this.params, options.ema);
    this.rng = new Rng(options.seed).fork(7);
    this.draws = new SeededDraws(this.rng);
  }

  /** One optimisation step; throws TRAINING_DIVERGED (weights untouched) on a non-finite loss or gradient. */
  trainStep(batch: TrainBatch): StepMetrics {
    const F = this.F;
    const B = batch.labels.length;
    const [H, W] = this.generator.tokenizer.resolution;
    const lr = learningRate(this.options, this.step);
    if (batch.stored && this.options.target === 'tokenizer') {
      throw new TesseraError('USAGE', 'a tokenizer trains on images, not on a latent cache of its own codes', { subject: SUBJECT });
    }
    if (!batch.stored && batch.images?.length !== B * 3 * H * W) {
      throw new TesseraError('SHAPE_MISMATCH', `a batch of ${B} images of ${3 * H * W} values each was expected (3x${H}x${W}), got ${batch.images?.length ?? 0} values`, { subject: SUBJECT, data: { B, H, W } });
    }
    const images = batch.images && !batch.stored ? F.tensor(batch.images, [B, 3, H, W]) : undefined;
    let lossFn: () => Tensor;
    let cleanup: () => void = () => {};
    try {
      if (this.options.target === 'tokenizer') {
        const tokenizer = this.generator.tokenizer;
        lossFn = () => F.tidy(() => (tokenizer.trainingLoss as NonNullable<typeof tokenizer.trainingLoss>)(images as Tensor, this.draws).loss);
      } else {
        const tokens = batch.stored ? cachedTokens(F, this.generator.tokenizer, batch.stored, this.draws) : this.generator.tokenizer.encode(images as Tensor, this.draws);
        ({ lossFn, cleanup } = this.generatorLoss(tokens, batch.labels));
      }
      const { value, grads } = F.valueAndGrads(lossFn, this.params.map((p) => p.parameter.asVariable));
      const loss = (F.readSync(value) as Float32Array)[0];
      F.dispose(value);
      const clipped = clipGradients(F, grads, this.options.gradClip);
      try {
        if (!Number.isFinite(loss) || !Number.isFinite(clipped.norm)) {
          throw new TesseraError('TRAINING_DIVERGED', `step ${this.step + 1}: the ${Number.isFinite(loss) ? `gradient norm is ${clipped.norm}` : `loss is ${loss}`}; the weights were not updated and the last checkpoint is kept. Lower the learning rate or enable gradient clipping.`, {
            subject: SUBJECT, data: { step: this.step + 1, loss, gradNorm: clipped.norm },
          });
        }
        this.optimizer.step(clipped.grads, lr);
      } finally {
        F.dispose(clipped.grads.filter((g): g is Tensor => g !== undefined));
      }
      this.ema?.update();
      this.step += 1;
      return { step: this.step, loss, lr, gradNorm: clipped.norm };
    } finally {
      cleanup();
      if (images) F.dispose(images);
    }
  }

  /** The loss closure of a generator step; tokens, example and labels are made outside the tape. */
  private generatorLoss(tokens: Tokens, labelData: Int32Array): { lossFn: () => Tensor; cleanup: () => void } {
    const F = this.F;
    const { tokenizer, direction, backbone, head } = this.generator;
    let ex: TrainingExample | undefined;
    let labels: Tensor | undefined;
    try {
      if (hasProgressive(direction)) {
        const scales = direction.schedule(tokenizer).length;
        direction.setProgressiveStage(progressiveStage(this.options, scales, this.step, this.progressive));
      }
      ex = direction.trainingExample(tokens, tokenizer, this.draws);
      const given = F.tensor(labelData, [labelData.length], 'int32');
      labels = hasLabelDrop(backbone) ? backbone.dropLabels(given, this.draws) : given;
      if (labels !== given) F.dispose(given);
    } catch (e) {
      disposeTokens(F, tokens);
      if (ex) disposeExample(F, ex);
      throw e;
    }
    const example = ex, labels_B = labels as Tensor;
    const lossFn = (): Tensor => F.tidy(() => {
      const out = backbone.forward({
        inputs: example.inputs, labels: labels_B, attention: example.attention, visible: example.visible, levels: example.levels,
        positions: example.positions, training: { draws: this.draws },
      });
      const rows = headRows(F, out, example);
      // HART: a composed residual head conditions on `decoder_norm(hidden + codes)` of the backbone
      const input = head.residual && backbone.residualCondition ? { ...rows, residualCondition: backbone.residualCondition.bind(backbone) } : rows;
      const loss = head.loss(input, example.target, example.weights, this.draws);
      return example.lossScale === undefined || example.lossScale === 1 ? loss : F.mul(loss, example.lossScale);
    });
    return { lossFn, cleanup: () => { disposeTokens(F, tokens); disposeExample(F, example); F.dispose(labels_B); } };
  }

  dispose(): void {
    this.optimizer.dispose();
    this.ema?.dispose();
  }
}

/**
 * The backbone output as head rows: hidden [B, L, D] → z [B·L, D] (batch-major, the
 * order of the example's targets and weights), the AdaLN condition [B, D] repeated per
 * position, and the example's per-row head levels.
 */
export function headRows(F: Engine, out: BackboneOutput, ex: TrainingExample): HeadInput {
  const [B, L, D] = out.hidden.shape;
  const rows = ex.target.indices?.shape[0] ?? ex.target.values?.shape[0];
  if (rows !== undefined && rows !== B * L) {
    throw new TesseraError('SHAPE_MISMATCH', `the backbone gives ${B}x${L} positions but the direction's example has ${rows} target rows`, { subject: SUBJECT, data: { B, L, rows } });
  }
  const z = F.reshape(out.hidden, [B * L, D]); // [B, L, D] -> [B·L, D]
  const cond = out.cond
    ? F.reshape(F.broadcastTo(F.reshape(out.cond, [B, 1, out.cond.shape[1]]), [B, L, out.cond.shape[1]]), [B * L, out.cond.shape[1]]) // [B, D] -> [B·L, D]
    : undefined;
  return { z, ...(cond ? { cond } : {}), ...(ex.headLevels ? { level: ex.headLevels } : {}) };
}

export function disposeTokens(F: Engine, t: Tokens): void {
  if (t.kind === 'continuous') F.dispose(t.latent);
  else F.dispose([...t.indices, ...(t.residual ? [t.residual] : [])]);
}

export function disposeExample(F: Engine, ex: TrainingExample): void {
  const r = ex.target.residual;
  const ts = [ex.inputs, ex.visible, ex.levels, ex.positions, ex.headLevels, ex.target.indices, ex.target.values, ex.weights, r?.rows, r?.values, r?.codebook];
  F.dispose([...new Set(ts.filter((t): t is Tensor => t !== undefined))]);
}
