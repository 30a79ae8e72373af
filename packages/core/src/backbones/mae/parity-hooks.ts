/**
 * A seam for the parts of a parity case core does not own. The MAR/FAR training-forward
 * cases (`mar.model.forward`, `far.model.forward`) end in the diffusion loss, which the
 * `head-diffusion` plugin implements; core never imports plugins, so the plugin (or
 * whoever wires plugins together: the CLI, a test) installs its loss here. Without a
 * hook the handlers return everything but `loss`, and the runner reports `loss` as
 * not produced.
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import type { DrawSource } from '../../rng/draws';
import type { HostTensor } from '../../tensor/host';

export interface DiffusionLossRequest {
  engine: Engine;
  /** The case's `diffloss.*` weights with that prefix stripped (`net.input_proj.weight`, ...). */
  weights: ReadonlyMap<string, HostTensor>;
  /** DiffLoss constructor arguments (spec/mar.md §5.1): target channels C, z channels Dd, depth, width, respacing. */
  tokenChannels: number;
  zChannels: number;
  depth: number;
  width: number;
  numSamplingSteps: string;
  /** Target rows [N, C], already tiled `diffusion_batch_mul` times (block tiling). */
  target_NC: Tensor;
  /** Condition rows [N, Dd], tiled the same way. */
  z_ND: Tensor;
  /** MAR: 1 = predicted row; the loss is the mean over those rows. Absent for FAR (plain mean). */
  mask_N?: Tensor;
  /** FAR: the frequency level k of each row, float32 [N]. */
  level_N?: Tensor;
  /** The case's draws, positioned at the loss's first draw (t, then ε). */
  draws: DrawSource;
}

/** Computes the scalar DiffLoss of spec/mar.md §5.4 (or far.md §2.2) synchronously. */
export type DiffusionLossHook = (request: DiffusionLossRequest) => Tensor;

/** Hooks the MAE parity handlers consult at run time. */
export const maeParityHooks: { diffusionLoss?: DiffusionLossHook } = {};

/** Installs (or, with `undefined`, removes) the diffusion loss used by the MAE training-forward cases. */
export function setMaeDiffusionLossHook(hook: DiffusionLossHook | undefined): void {
  maeParityHooks.diffusionLoss = hook;
}
