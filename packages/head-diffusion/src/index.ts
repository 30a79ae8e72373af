/**
 * `@tessera/head-diffusion`: the per-token diffusion head of MAR and FAR (a small AdaLN MLP
 * denoiser trained with the DDPM ε-loss plus the learned-variance bound, sampled with CFG
 * and temperature; spec/mar.md §5, far.md §2.2) and HART's residual diffusion (hart.md §5,
 * `mode: 'residual'`). Registers a `DiffusionHead` under `HEAD`.
 *
 * @example
 * const options = plugin.options.parse({ tokenDim: 16, zChannels: 256, width: 256, depth: 2 });
 * plugin.register(container, options);
 */
import { definePlugin, ENGINE, HEAD } from '@tessera/core';
import { instanceCachingFactory } from 'tsyringe';
import { DiffusionHead } from './head';
import { diffusionHeadOptionsSchema } from './options';
import { diffusionParityHandlers } from './parity';

export { DiffLossModule, DiffusionHead, type SampleTokensOptions } from './head';
export { SimpleMLPAdaLN, timestepFeatures, type GuidanceFormula, type MlpAdaLNConfig } from './mlp-adaln';
export { GaussianDiffusion, discretizedGaussianLogLikelihood, normalKl, type Denoiser, type MeanVariance, type ReverseSampler, type StepOptions, type TrainingTerms } from './gaussian-diffusion';
export { DiffusionSchedule, namedBetaSchedule, type NoiseSchedule } from './schedule';
export { roundHalfEven, spaceTimesteps } from './respacing';
export { sharedLevel, stepsForLevel, type FrequencyAwareSteps } from './frequency-steps';
export { diffusionHeadOptionsSchema, type DiffusionHeadOptions, type DiffusionHeadOptionsInput } from './options';
export { diffusionParityHandlers } from './parity';

export const plugin = definePlugin({
  name: 'diffusion',
  kind: 'head',
  description: 'Per-token diffusion head (MAR/FAR diffusion loss with learned variance, CFG and temperature; HART residual mode)',
  options: diffusionHeadOptionsSchema,
  capabilities: (options) => ({
    provides: [],
    requires: [
      options.mode === 'residual'
        ? { slot: 'tokenizer', anyOf: ['residual'], need: 'the continuous residual left after discrete reconstruction', fix: 'use a hybrid tokenizer such as `msvq` in hybrid mode, or head mode `token`' }
        : { slot: 'tokenizer', anyOf: ['continuous'], need: 'continuous targets', fix: 'use head `categorical`, or a continuous tokenizer such as `vae`' },
    ],
  }),
  register(container, options) {
    container.register(HEAD, { useFactory: instanceCachingFactory((c) => new DiffusionHead(c.resolve(ENGINE), options)) });
  },
  parity: diffusionParityHandlers,
});

export default plugin;
