/** The tokenizer contract: images in [-1, 1] (NCHW) to tokens and back. */
import type { Tensor } from '../engine/ops';
import type { Module } from '../nn/module';
import type { DrawSource } from '../rng/draws';
import type { TokenSpace, Tokens } from './token-space';

export interface Tokenizer {
  readonly id: string;
  readonly space: TokenSpace;
  /** Image resolution the tokenizer expects ([H, W]). */
  readonly resolution: [number, number];
  /** Parameters under their official keys. */
  readonly module: Module;
  /** `draws` is used by stochastic encoders (a KL posterior sample). */
  encode(images_BCHW: Tensor, draws?: DrawSource): Tokens;
  decode(tokens: Tokens): Tensor;
  /** Reconstruction (+ codebook / KL) training loss of a batch. */
  trainingLoss?(images_BCHW: Tensor, draws: DrawSource): { loss: Tensor; terms: Record<string, Tensor> };
  /** Capability views; present only when the capability is provided. */
  readonly multiScale?: MultiScaleQuantizer;
  readonly pyramid?: LatentPyramid;
  /** What a latent cache stores per image; without it the cache stores `encode(images)`. */
  readonly latentCache?: LatentCacheCodec;
}

/**
 * How a tokenizer's output is cached (MAR's `main_cache.py`, spec/mar.md §8.2). `store`
 * gives the tensors kept per image (each [B, ...], float32 or int32); `tokens` turns a
 * batch of them into what `encode(images, draws)` would return. A stochastic encoder
 * stores its posterior (the vae: raw moments) and samples in `tokens`, so training from
 * the cache keeps its noise.
 */
export interface LatentCacheCodec {
  store(images_BCHW: Tensor): Record<string, Tensor>;
  tokens(stored: Record<string, Tensor>, draws?: DrawSource): Tokens;
}

/**
 * VAR's residual multi-scale quantizer as a scale direction needs it (spec/var.md §3):
 * teacher-forcing inputs, the next autoregressive input while sampling, and the final
 * accumulated features.
 */
export interface MultiScaleQuantizer {
  readonly patchNums: number[];
  /** Code vectors of the codebook, [V, Cvae]. */
  embed(indices_BL: Tensor): Tensor;
  /** Teacher-forcing input [B, L - pn_0², Cvae] from per-scale indices (idxBl_to_var_input). */
  teacherForcingInput(indices: Tensor[]): Tensor;
  /** One sampling step: new f_hat and the next scale's input (get_next_autoregressive_input). */
  nextInput(scale: number, fHat_BChw: Tensor, h_BChw: Tensor): { fHat: Tensor; next: Tensor | undefined };
  /** Features [B, Cvae, H, W] to image. */
  decodeFeatures(fHat_BChw: Tensor): Tensor;
}

/** A generic multi-scale view of continuous latents (area down, bicubic up). */
export interface LatentPyramid {
  down(latent_BChw: Tensor, size: [number, number]): Tensor;
  up(latent_BChw: Tensor, size: [number, number]): Tensor;
}
