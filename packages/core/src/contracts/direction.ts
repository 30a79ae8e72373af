/**
 * The direction contract: the regression order. In training it turns an image's tokens
 * into one teacher-forced example (inputs, attention pattern, targets, per-token loss
 * weights); in sampling it owns the loop state and drives backbone and head one AR
 * step at a time. Its step schedule is public so the CLI can show progress and heads
 * can take per-step settings (temperature, CFG and diffusion-step schedules).
 */
import type { Tensor } from '../engine/ops';
import type { DrawSource } from '../rng/draws';
import type { AttentionPattern, Backbone } from './backbone';
import type { Head, HeadSampleOptions, HeadTarget } from './head';
import type { Tokenizer } from './tokenizer';
import type { Tokens } from './token-space';

export interface DirectionStep {
  index: number;
  /** Tokens predicted at this step. */
  tokens: number;
  /** Human-readable, e.g. `scale 4 (5x5)` or `level 3`. */
  label: string;
}

export interface TrainingExample {
  /** Backbone input features [B, L, Cin]. */
  inputs: Tensor;
  attention: AttentionPattern;
  visible?: Tensor;
  levels?: Tensor;
  /** Head level per position (FAR frequency level), int32 [B, L]. */
  headLevels?: Tensor;
  /** Targets for every position, flattened to rows [B * L]. */
  target: HeadTarget;
  /** Loss weight per position [B * L] (0 where nothing is predicted). */
  weights: Tensor;
}

export interface SamplerSettings {
  /** Guidance scale at the last step; per-step values come from the schedule. */
  cfg: number;
  cfgSchedule: 'constant' | 'linear';
  temperature: number;
  temperatureSchedule?: 'constant' | 'linear';
  topK: number | null;
  topP: number | null;
  greedy: boolean;
  smooth: boolean;
  diffusionSteps: string;
}

export interface SamplingContext {
  readonly tokenizer: Tokenizer;
  readonly backbone: Backbone;
  readonly head: Head;
  readonly draws: DrawSource;
  readonly settings: SamplerSettings;
  /** Class labels int32 [B]. */
  readonly labels: Tensor;
  /** Per-step head options derived from the settings and the schedule. */
  headOptions(step: DirectionStep): HeadSampleOptions;
}

export interface SamplingState {
  readonly step: number;
  readonly done: boolean;
}

export interface Direction {
  readonly id: string;
  /** The AR steps for a tokenizer's token space. */
  schedule(tokenizer: Tokenizer): DirectionStep[];
  trainingExample(tokens: Tokens, tokenizer: Tokenizer, draws: DrawSource): TrainingExample;
  init(ctx: SamplingContext): SamplingState;
  step(state: SamplingState, ctx: SamplingContext): SamplingState;
  finalTokens(state: SamplingState, ctx: SamplingContext): Tokens;
}
