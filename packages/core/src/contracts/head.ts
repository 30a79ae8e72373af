/**
 * The head contract: the per-token distribution given the backbone's hidden state —
 * its training loss and its sampler. Classifier-free guidance: the sampler stacks the
 * conditional rows and then the null-condition rows (2N rows); the head mixes them
 * (logits for a categorical head, the model output at each denoising step for a
 * diffusion head) and returns N tokens.
 */
import type { Tensor } from '../engine/ops';
import type { Module } from '../nn/module';
import type { DrawSource } from '../rng/draws';
import type { HostTensor } from '../tensor/host';

export interface HeadInput {
  /** Hidden state per predicted token, [N, D]. */
  z: Tensor;
  /** Per-row conditioning vector for heads that apply AdaLN before projecting (VAR), [N, D]. */
  cond?: Tensor;
  /** Per-row level (scale or frequency index) for heads conditioned on it (FAR), int32 [N]. */
  level?: Tensor;
  /**
   * The backbone's `residualCondition` (HART: `decoder_norm(hidden + word_embed(codes))`),
   * which the training loss of a composed residual head needs to condition it on the
   * tokens it draws; [B, N, D] hidden states and [B, N, C] code vectors → [B, N, D].
   */
  residualCondition?: (hidden_BND: Tensor, codes_BNC: Tensor) => Tensor;
}

/**
 * The continuous part of a hybrid token's target (HART, spec/hart.md §4.7 steps 6–8): a
 * composed residual head learns `values − codebook[token]` for a token drawn from the
 * head's own prediction at `rows`.
 */
export interface ResidualTarget {
  /** Rows (indices into the flattened rows of `z`) whose tokens carry a residual, int32 [R]. */
  rows: Tensor;
  /** What a row's code vector and its residual add up to (HART's `last_layer_gt` = residual + ground-truth code), [R, C]. */
  values: Tensor;
  /** The code vector of every vocabulary entry, [V, C]. */
  codebook: Tensor;
}

export interface HeadTarget {
  /** Discrete targets, int32 [N]. */
  indices?: Tensor;
  /** Continuous targets, [N, C]. */
  values?: Tensor;
  /** Hybrid tokens: the continuous remainder, for a head that composes a residual head. */
  residual?: ResidualTarget;
}

/** Receives a named intermediate of a head call as a host copy. */
export type HeadObserver = (name: string, value: HostTensor) => void;

export interface HeadSampleOptions {
  temperature: number;
  /**
   * Guidance scale s of `s·cond − (s−1)·uncond`; 1 means no guidance (rows are not
   * doubled). MAR's and FAR's `cfg` is s; VAR's and HART's `cfg` c corresponds to s = 1 + c.
   */
  cfg: number;
  topK?: number | null;
  topP?: number | null;
  greedy?: boolean;
  /** VAR's `more_smooth`: Gumbel-softmax mixing of code vectors instead of a hard pick. */
  smooth?: boolean;
  /** Diffusion step count string (`"100"`, `"ddim25"`). */
  diffusionSteps?: string | null;
  /** Position of this AR step in [0, 1] (first step 0, last 1), for schedules such as VAR's smoothing. */
  progress?: number;
  /**
   * Whether the rows are [conditional; null-condition] pairs to mix; default `cfg !== 1`.
   * A direction whose guidance ramps up from 1 (VAR's first scale) sets it so the row
   * layout stays the same over the run.
   */
  guided?: boolean;
  /** Receives named intermediates of the call (parity traces, debugging), e.g. `logits`, `guidedLogits`, `probs`, `samples`. */
  observe?: HeadObserver;
  draws: DrawSource;
}

export interface HeadSample {
  /** Sampled indices, int32 [N] (discrete heads). */
  indices?: Tensor;
  /** Sampled vectors, [N, C] (continuous heads; a smoothed categorical head's mixed code weights [N, V]). */
  values?: Tensor;
}

export interface Head {
  readonly id: string;
  readonly module: Module;
  /**
   * Prefix of this head's keys inside the official transformer checkpoint, where the head
   * is stored beside the backbone (MAR/FAR: `diffloss.`; VAR: none).
   */
  readonly weightPrefix?: string;
  /**
   * A composed head for the continuous residual that discrete tokens leave (HART: the
   * residual diffusion at the last scale), configured inside this head's options.
   */
  readonly residual?: Head;
  /**
   * Mean loss over rows weighted by `weights` (int 0/1 or real, [N]); scalar. `observe`
   * receives named intermediates (parity traces, logging), as in `HeadSampleOptions`.
   */
  loss(input: HeadInput, target: HeadTarget, weights: Tensor | undefined, draws: DrawSource, observe?: HeadObserver): Tensor;
  sample(input: HeadInput, options: HeadSampleOptions): HeadSample;
}
