/**
 * The direction contract: the regression order. In training it turns a batch's tokens
 * into one teacher-forced example (inputs, attention pattern, targets, per-token loss
 * weights); in sampling it owns the loop state and drives backbone and head one AR
 * step at a time. Its step schedule is public so the CLI can show progress.
 *
 * Per-step sampling values (temperature, guidance scale) are the direction's business:
 * the official schedules are defined in terms of each method's own progress measure
 * (MAR: the share of tokens known after the step; FAR: the step index; VAR: the scale
 * index), so `SamplerSettings` carries the user's values and schedule names and each
 * direction turns them into the `HeadSampleOptions` of a step.
 *
 * The loop (the generic `Sampler` in core) is:
 * `state = init(ctx)`; `while (!state.done) state = step(state, ctx)`;
 * `tokens = finalTokens(state, ctx)`; `dispose(state)`. A state may hold tensors and
 * caches (a KV cache for next-scale sampling): `step` consumes the state it is given
 * (frees what it does not carry over), `dispose` frees a state that will not be stepped.
 */
import type { Tensor } from '../engine/ops';
import type { DrawSource } from '../rng/draws';
import type { AttentionPattern, Backbone, ContextInput } from './backbone';
import type { Head, HeadTarget } from './head';
import type { Tokenizer } from './tokenizer';
import type { Tokens } from './token-space';

export interface DirectionStep {
  /** 0-based AR step. */
  index: number;
  /** Tokens predicted (or re-predicted) per image at this step. */
  tokens: number;
  /** Human-readable, e.g. `scale 4 (5x5)` or `level 3`. */
  label: string;
}

export interface TrainingExample {
  /** Backbone input features [B, L, Cin]. */
  inputs: Tensor;
  attention: AttentionPattern;
  /** [B, L], 1 where a token is known to the encoder (MAE backbones). */
  visible?: Tensor;
  /** Scale / level index per position for the backbone, int32 [L]. */
  levels?: Tensor;
  /** Position of each input token in the full sequence when only some are fed, int32 [B, L] (`BackboneInput.positions`). */
  positions?: Tensor;
  /** Head level per target row (FAR frequency level), int32 [B·L]. */
  headLevels?: Tensor;
  /** Targets for every position, flattened to rows [B·L]. */
  target: HeadTarget;
  /** Loss weight per row [B·L] (0 where nothing is predicted); absent = plain mean over rows. */
  weights?: Tensor;
  /** Multiplies the head's loss (FAR's frequency-aware weight of the batch's level); absent = 1. */
  lossScale?: number;
}

/** The user's sampling settings; directions map them to per-step head options. */
export interface SamplerSettings {
  /** Guidance scale s of `s·cond − (s−1)·uncond` (the head contract's meaning); 1 = none. */
  cfg: number;
  /** How the scale moves over the steps, in the direction's own progress measure. */
  cfgSchedule: 'constant' | 'linear';
  temperature: number;
  /** Absent: the direction's official schedule. */
  temperatureSchedule?: 'constant' | 'linear';
  topK: number | null;
  topP: number | null;
  greedy: boolean;
  smooth: boolean;
  /** Respacing of diffusion heads (`"100"`, `"ddim25"`); absent = the head's own default. */
  diffusionSteps?: string | null;
}

export interface SamplingContext {
  readonly tokenizer: Tokenizer;
  readonly backbone: Backbone;
  readonly head: Head;
  readonly draws: DrawSource;
  readonly settings: SamplerSettings;
  /** Class labels int32 [B] of the images (the null class for unconditional images). */
  readonly labels: Tensor;
  /** The null class, int32 [B]: the rows a direction stacks after `labels` for guidance. */
  readonly nullLabels: Tensor;
  /**
   * The images' context sequences (B rows) for context-conditioned backbones; directions
   * pass it with every backbone call unchanged (the backbone derives the guided rows'
   * null context from the null labels).
   */
  readonly context?: ContextInput;
}

export interface SamplingState {
  /** Steps taken so far. */
  readonly step: number;
  readonly done: boolean;
}

export interface Direction<S extends SamplingState = SamplingState> {
  readonly id: string;
  /** The AR steps for a tokenizer's token space. */
  schedule(tokenizer: Tokenizer): DirectionStep[];
  /** One teacher-forced example; its random choices (orders, levels, ratios) come from `draws`. */
  trainingExample(tokens: Tokens, tokenizer: Tokenizer, draws: DrawSource): TrainingExample;
  init(ctx: SamplingContext): S;
  /** Runs one AR step; consumes `state`. */
  step(state: S, ctx: SamplingContext): S;
  /** The finished tokens (new tensors the caller owns); the state stays valid. */
  finalTokens(state: S, ctx: SamplingContext): Tokens;
  /** Frees the tensors and caches a state holds. */
  dispose(state: S): void;
}
