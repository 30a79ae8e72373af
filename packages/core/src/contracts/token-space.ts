/**
 * What a tokenizer produces and a head consumes. Grids are [h, w] of the finest token
 * map; multi-scale and residual views are optional capabilities of the tokenizer.
 */
import type { Tensor } from '../engine/ops';

export interface ContinuousSpace {
  kind: 'continuous';
  /** Channels per token (latent channels x patch area once a direction patchifies). */
  channels: number;
  grid: [number, number];
}

export interface DiscreteSpace {
  kind: 'discrete';
  vocab: number;
  /** Width of the code vectors (the quantizer's embedding dimension). */
  embedDim: number;
  grid: [number, number];
}

export type TokenSpace = ContinuousSpace | DiscreteSpace;

/** Discrete tokens per scale: `indices[k]` is int32 [B, pn_k * pn_k], row-major. */
export interface DiscreteTokens {
  kind: 'discrete';
  indices: Tensor[];
  /** HART hybrid: the continuous remainder [B, C, h, w] at the finest scale. */
  residual?: Tensor;
  /**
   * The accumulated code features f̂ [B, C, h, w] when a sampler built them itself (VAR's
   * loop, Gumbel smoothing included); a tokenizer decodes these instead of the indices.
   */
  features?: Tensor;
}

/** Continuous tokens as a latent map [B, C, h, w]. */
export interface ContinuousTokens {
  kind: 'continuous';
  latent: Tensor;
}

export type Tokens = DiscreteTokens | ContinuousTokens;

/**
 * Every tensor a token set holds (to dispose or read it whole); with `features: false`,
 * only the tokens themselves, without a sampler's accumulated features.
 */
export function tokenTensors(t: Tokens, options: { features?: boolean } = {}): Tensor[] {
  if (t.kind === 'continuous') return [t.latent];
  const features = options.features !== false && t.features ? [t.features] : [];
  return [...t.indices, ...(t.residual ? [t.residual] : []), ...features];
}
