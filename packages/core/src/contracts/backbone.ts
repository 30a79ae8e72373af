/**
 * The backbone contract: the transformer between the direction's token inputs and the
 * head. Built-ins live in core (`adaln` for VAR/HART, `mae` for MAR/FAR) and are chosen
 * in a config like a plugin.
 */
import type { Tensor } from '../engine/ops';
import type { Module } from '../nn/module';
import type { DrawSource } from '../rng/draws';

/** Which tokens attend to which, decided by the direction. */
export type AttentionPattern =
  | { kind: 'causal' }
  | { kind: 'block-causal'; blockSizes: number[] }
  | { kind: 'bidirectional' };

/**
 * Conditioning by a sequence of precomputed features (HART: the T hidden states of its
 * text encoder, spec/hart.md §2.3) instead of, or beside, a class label. Rows match
 * `BackboneInput.labels` one to one, or the labels' rows are whole repeats of them (the
 * guided rows a direction stacks); a row whose label is the null class is given the
 * null context (zero features, mask [1, 0, …, 0], position ids 0), as the official CFG batch.
 */
export interface ContextInput {
  /** Features [Bc, T, D]. */
  features: Tensor;
  /** 1 for real tokens, 0 for padding, [Bc, T]; absent = all real. */
  mask?: Tensor;
  /** Position id of each token, int32 [Bc, T]; absent = cumsum(mask) − 1. */
  positions?: Tensor;
}

/** What a context-conditioned backbone takes: T tokens of D features each. */
export interface ContextSpec {
  tokens: number;
  dim: number;
  /** Whether every sample needs a context (text-conditioned models), or it is optional. */
  required: boolean;
}

export interface BackboneInput {
  /** Per-token input features [B, L, Cin], embedded by the backbone's input projection. */
  inputs: Tensor;
  /** Class labels int32 [B]; the null class (= number of classes) for unconditional rows. */
  labels: Tensor;
  attention: AttentionPattern;
  /** 1 where a token is known to the encoder (MAE backbones), [B, L]. */
  visible?: Tensor;
  /** Scale / level index per position (VAR level embedding), int32 [L]. */
  levels?: Tensor;
  /**
   * Where each input token sits in the full input sequence (counted after the start
   * tokens), int32 [B, L], when the direction feeds a subset of it (HART trains on the
   * unmasked positions of the last scale only); absent = 0..L−1 in order.
   */
  positions?: Tensor;
  /** Text (or other sequence) conditioning; only for backbones that declare `context`. */
  context?: ContextInput;
  /** Present in training only: the draws for the backbone's own training randomness (MAE: class-label drop, dropout). */
  training?: { draws: DrawSource };
}

export interface BackboneOutput {
  /** Hidden state per position, [B, L, D]. */
  hidden: Tensor;
  /** Conditioning for heads with AdaLN before the projection, [B, D]. */
  cond?: Tensor;
}

/** Opaque per-backbone cache of keys and values for step-by-step sampling. */
export interface KvCache {
  readonly length: number;
  dispose(): void;
}

export interface Backbone {
  readonly id: string;
  readonly module: Module;
  /** Present when the backbone is conditioned on a context sequence (`BackboneInput.context`). */
  readonly context?: ContextSpec;
  /** Teacher-forced (training) forward over a whole sequence. */
  forward(input: BackboneInput): BackboneOutput;
  /** Sampling with a KV cache: feeds the next positions and returns their outputs. */
  step?(input: BackboneInput, cache: KvCache | undefined): { output: BackboneOutput; cache: KvCache };
  /**
   * The condition of a residual head at the positions of `hidden_BNC` given the chosen
   * code vectors `codes_BNCv` (HART: `decoder_norm(hidden + word_embed(codes))`), [B, N, D].
   */
  residualCondition?(hidden_BNC: Tensor, codes_BNCv: Tensor): Tensor;
}
