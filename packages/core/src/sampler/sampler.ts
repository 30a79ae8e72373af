/**
 * The generic sampler: class labels in, images out, for any generator (DESIGN.md,
 * "`Trainer` and `Sampler` are generic over it"). It splits the requested images into
 * batches, gives each batch its labels and null-class labels, runs the direction's loop
 * (`init`, `step` until done, `finalTokens`; contracts/direction.ts) with one draw
 * source, reports every AR step, and decodes the tokens with the tokenizer.
 *
 * Randomness: one `SeededDraws` per run from `seed`; or, with `seeds` (one per image),
 * one stream per batch seeded from its images' seeds, so that with `batchSize: 1` each
 * image depends on its own seed only (sharded sampling); or a caller's `draws` (replay
 * of the official draws, for parity).
 */
import { z } from 'zod';
import type { Engine } from '../engine/engine';
import type { Tensor } from '../engine/ops';
import { TesseraError } from '../errors';
import type { Backbone } from '../contracts/backbone';
import type { DirectionStep, SamplerSettings, SamplingContext } from '../contracts/direction';
import type { Generator } from '../contracts/generator';
import { type Tokens, tokenTensors } from '../contracts/token-space';
import { DrawSource, SeededDraws } from '../rng/draws';
import { checkContext, contextTensors, type HostContext } from './context';

export const samplerSettingsSchema = z.object({
  cfg: z.number().positive().default(1),
  cfgSchedule: z.enum(['constant', 'linear']).default('linear'),
  temperature: z.number().positive().default(1),
  temperatureSchedule: z.enum(['constant', 'linear']).optional(),
  topK: z.number().int().positive().nullable().default(null),
  topP: z.number().gt(0).max(1).nullable().default(null),
  greedy: z.boolean().default(false),
  smooth: z.boolean().default(false),
  diffusionSteps: z.string().min(1).nullable().optional(),
}).strict();

export type SamplerSettingsInput = z.input<typeof samplerSettingsSchema>;

/** What `onStep` reports after every AR step. */
export interface SampleProgress {
  /** 0-based batch and the number of batches. */
  batch: number;
  batches: number;
  /** The step just taken (from the direction's schedule) and the number of steps. */
  step: DirectionStep;
  steps: number;
}

export interface SampleRequest {
  /** One class per image; `null` = unconditional (the null class). */
  labels: (number | null)[];
  settings?: SamplerSettingsInput;
  /** Images per batch; default all at once. */
  batchSize?: number;
  /** Seed of the run's single draw stream (default 0). */
  seed?: number;
  /** One seed per image (see the file comment); overrides `seed`. */
  seeds?: number[];
  /** A caller's draw source for the whole run (replay); overrides `seed` and `seeds`. */
  draws?: DrawSource;
  /**
   * Context rows, one per image, for context-conditioned backbones (HART text
   * conditioning; `readContextFile`). Their images' `labels` say only conditional
   * (any class) or unconditional (`null`: the null context).
   */
  context?: HostContext;
  /** Clamp the decoded images to [−1, 1] (default true). */
  clamp?: boolean;
  onStep?(progress: SampleProgress): void;
}

export interface SampleResult {
  /** Decoded images [B, 3, H, W]. */
  images: Tensor;
  /** The generated tokens of all images. */
  tokens: Tokens;
}

export interface SamplerOptions {
  /** The null (unconditional) class label; default: read from the backbone's options. */
  nullClass?: number;
}

/**
 * The null class of a built-in backbone: `mae` takes label `classNum`, `adaln` label
 * `classes` (both in their parsed options). Other backbones need `SamplerOptions.nullClass`.
 */
export function nullClassOf(backbone: Backbone): number | undefined {
  const options = (backbone as { options?: { classNum?: unknown; classes?: unknown } }).options;
  const n = options?.classNum ?? options?.classes;
  return typeof n === 'number' ? n : undefined;
}

export class Sampler {
  readonly nullClass: number;
  private readonly F: Engine;

  constructor(readonly generator: Generator, options: SamplerOptions = {}) {
    this.F = generator.engine;
    const nullClass = options.nullClass ?? nullClassOf(generator.backbone);
    if (nullClass === undefined) {
      throw new TesseraError('USAGE', `the null class of \`${generator.backbone.id}\` is unknown; pass \`nullClass\` to the Sampler`, { subject: 'sampler' });
    }
    this.nullClass = nullClass;
  }

  /** Samples every requested image; the returned tensors belong to the caller. */
  sample(request: SampleRequest): SampleResult {
    const settings = parseSettings(request.settings ?? {});
    const count = request.labels.length;
    const batchSize = request.batchSize ?? count;
    if (count === 0) throw new TesseraError('USAGE', 'no images requested: `labels` is empty', { subject: 'sampler' });
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new TesseraError('USAGE', `\`batchSize\` must be a positive integer, got ${batchSize}`, { subject: 'sampler', data: { batchSize } });
    }
    if (request.seeds && request.seeds.length !== count) {
      throw new TesseraError('USAGE', `\`seeds\` has ${request.seeds.length} entries for ${count} images; give one seed per image`, { subject: 'sampler' });
    }
    for (const label of request.labels) {
      if (label !== null && (!Number.isInteger(label) || label < 0 || label >= this.nullClass)) {
        throw new TesseraError('USAGE', `class label ${label} is outside 0..${this.nullClass - 1}; use null for an unconditional image`, { subject: 'sampler', data: { label } });
      }
    }
    this.checkContext(count, request.context);
    const runDraws = request.draws ?? (request.seeds ? undefined : SeededDraws.fromSeed(request.seed ?? 0));
    const batches = Math.ceil(count / batchSize);
    const images: Tensor[] = [];
    const tokens: Tokens[] = [];
    try {
      for (let b = 0; b < batches; b++) {
        const labels = request.labels.slice(b * batchSize, (b + 1) * batchSize);
        const draws = runDraws ?? SeededDraws.fromSeed(batchSeed((request.seeds as number[]).slice(b * batchSize, (b + 1) * batchSize)));
        const rows = request.context ? { context: request.context, from: b * batchSize, to: b * batchSize + labels.length } : undefined;
        const out = this.sampleBatch(labels, settings, draws, (step, steps) => request.onStep?.({ batch: b, batches, step, steps }), rows);
        tokens.push(out.tokens);
        images.push(out.images);
      }
      const F = this.F;
      const all = images.length === 1 ? images[0] : F.concat(images, 0);
      const clamped = request.clamp === false ? all : F.clip(all, -1, 1);
      if (clamped !== all) F.dispose(all);
      if (images.length > 1) F.dispose(images);
      return { images: clamped, tokens: concatTokens(F, tokens) };
    } catch (e) {
      for (const t of tokens) disposeTokens(this.F, t);
      this.F.dispose(images);
      throw e;
    }
  }

  /**
   * Refuses a context the backbone does not take, a missing one it needs, and rows that
   * do not fit it (one per image, its token count and width).
   */
  checkContext(images: number, context: HostContext | undefined): void {
    const spec = this.generator.backbone.context;
    if (context && !spec) {
      throw new TesseraError('USAGE', `\`${this.generator.backbone.id}\` is not conditioned on a context sequence; sample it with class labels, without a context`, { subject: 'sampler' });
    }
    if (spec?.required && !context) {
      throw new TesseraError('USAGE', `\`${this.generator.backbone.id}\` is text-conditioned: give one context row per image (${spec.tokens} features of width ${spec.dim}; \`tessera sample --context <file.safetensors>\`)`, { subject: 'sampler' });
    }
    if (context && spec) checkContext(context, spec, images, this.generator.backbone.id);
  }

  /** Runs the direction's loop for one batch (with its rows of a context); returns the tokens. */
  sampleTokens(labels: (number | null)[], settings: SamplerSettings, draws: DrawSource, onStep?: (step: DirectionStep, steps: number) => void, rows?: ContextRows): Tokens {
    const F = this.F;
    const { tokenizer, backbone, head, direction } = this.generator;
    const B = labels.length;
    const context = rows ? contextTensors(F, rows.context, rows.from, rows.to) : undefined;
    const ctx: SamplingContext = {
      tokenizer, backbone, head, draws, settings,
      labels: F.tensor(Int32Array.from(labels, (l) => l ?? this.nullClass), [B], 'int32'),
      nullLabels: F.full([B], this.nullClass, 'int32'),
      ...(context ? { context } : {}),
    };
    const schedule = direction.schedule(tokenizer);
    let state = direction.init(ctx);
    try {
      while (!state.done) {
        state = direction.step(state, ctx);
        const step = schedule[state.step - 1] ?? { index: state.step - 1, tokens: 0, label: `step ${state.step}` };
        onStep?.(step, schedule.length);
      }
      return direction.finalTokens(state, ctx);
    } finally {
      direction.dispose(state);
      F.dispose([ctx.labels, ctx.nullLabels, ...(context ? [context.features, context.mask, context.positions] : [])]);
    }
  }

  private sampleBatch(labels: (number | null)[], settings: SamplerSettings, draws: DrawSource, onStep: (step: DirectionStep, steps: number) => void, rows?: ContextRows): SampleResult {
    const tokens = this.sampleTokens(labels, settings, draws, onStep, rows);
    try {
      return { tokens, images: this.generator.tokenizer.decode(tokens) };
    } catch (e) {
      disposeTokens(this.F, tokens);
      throw e;
    }
  }
}

/** Rows [from, to) of a run's context: the batch's share. */
export interface ContextRows {
  context: HostContext;
  from: number;
  to: number;
}

/** Settings with defaults filled; bad values are a `CONFIG_INVALID` naming the field. */
export function parseSettings(input: SamplerSettingsInput): SamplerSettings {
  const parsed = samplerSettingsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TesseraError('CONFIG_INVALID', `sampler setting \`${issue.path.join('.')}\`: ${issue.message}`, { subject: 'sampler', data: { path: issue.path } });
  }
  return parsed.data;
}

/** One 32-bit seed from a batch's per-image seeds (FNV-1a over their 32-bit words). */
function batchSeed(seeds: number[]): number {
  if (seeds.length === 1) return seeds[0];
  let h = 0x811c9dc5;
  for (const s of seeds) {
    h = Math.imul(h ^ (s >>> 0), 0x01000193) >>> 0;
  }
  return h;
}

function disposeTokens(F: Engine, t: Tokens): void {
  F.dispose(tokenTensors(t));
}

/** Batches' tokens stacked along the batch axis (the parts are consumed). */
function concatTokens(F: Engine, parts: Tokens[]): Tokens {
  if (parts.length === 1) return parts[0];
  const first = parts[0];
  if (first.kind === 'continuous') {
    const latent = F.concat(parts.map((p) => (p as typeof first).latent), 0);
    parts.forEach((p) => disposeTokens(F, p));
    return { kind: 'continuous', latent };
  }
  const discrete = parts as (typeof first)[];
  const indices = first.indices.map((_, k) => F.concat(discrete.map((p) => p.indices[k]), 0));
  const residual = first.residual ? F.concat(discrete.map((p) => p.residual as Tensor), 0) : undefined;
  const features = first.features ? F.concat(discrete.map((p) => p.features as Tensor), 0) : undefined;
  parts.forEach((p) => disposeTokens(F, p));
  return { kind: 'discrete', indices, ...(residual ? { residual } : {}), ...(features ? { features } : {}) };
}
