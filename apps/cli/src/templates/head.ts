/**
 * Scaffold of a head plugin: a diagonal Gaussian per continuous token, predicted from z by
 * one linear layer. Loss: the Gaussian negative log-likelihood per value; sampling:
 * mean + σ·√τ·ε; guidance extrapolates the mean (s·μ_c − (s−1)·μ_u), as diffusion heads
 * do with their model output.
 */
import { TemplateVars, fill } from './common';

const HEAD = String.raw`/**
 * Head '__name__': a diagonal Gaussian N(mu, sigma^2) per continuous token, with mu and
 * log sigma predicted from the backbone's hidden state z by one linear layer.
 *
 * loss: the negative log-likelihood of the target, averaged over values and (weighted) rows.
 * sample: mu + sigma * sqrt(temperature) * eps; with guidance scale s the rows are
 * [conditional; null-condition] and the mean is s * mu_c - (s - 1) * mu_u.
 */
import { Linear, Module, TesseraError } from '@tessera/core';
import type { DrawSource, Engine, Head, HeadInput, HeadSample, HeadSampleOptions, HeadTarget, Tensor } from '@tessera/core';
import type { __Name__HeadOptions } from './options';

const SUBJECT = 'head/__name__';

export class __Name__Network extends Module {
  readonly proj: Linear;

  constructor(F: Engine, readonly options: __Name__HeadOptions) {
    super(F);
    this.proj = this.child('proj', new Linear(F, options.zChannels, 2 * options.tokenDim));
  }

  /** Means and log standard deviations of rows z [N, D]: two [N, C] tensors. */
  gaussian(z_ND: Tensor): { mu_NC: Tensor; logScale_NC: Tensor } {
    const F = this.F;
    const N = z_ND.shape[0];
    const C = this.options.tokenDim;
    const out_N2C = this.proj.forward(z_ND);
    return {
      mu_NC: F.slice(out_N2C, [0, 0], [N, C]),
      logScale_NC: F.clip(F.slice(out_N2C, [0, C], [N, C]), this.options.minLogScale, this.options.maxLogScale),
    };
  }
}

export class __Name__Head implements Head {
  readonly id = SUBJECT;
  readonly module: __Name__Network;

  constructor(private readonly F: Engine, readonly options: __Name__HeadOptions) {
    this.module = new __Name__Network(F, options);
  }

  private rows(z: Tensor): Tensor {
    const D = z.shape[z.shape.length - 1];
    if (D !== this.options.zChannels) throw new TesseraError('SHAPE_MISMATCH', 'z has width ' + D + '; set zChannels to the backbone width (now ' + this.options.zChannels + ')', { subject: SUBJECT });
    return this.F.reshape(z, [-1, D]); // (..., D) -> (N, D)
  }

  loss(input: HeadInput, target: HeadTarget, weights: Tensor | undefined, _draws: DrawSource): Tensor {
    const F = this.F;
    const x_NC = target.values;
    if (!x_NC) throw new TesseraError('PLUGIN_INCOMPATIBLE', 'head __name__ needs continuous targets; use a continuous tokenizer', { subject: SUBJECT });
    return F.tidy(() => {
      const { mu_NC, logScale_NC } = this.module.gaussian(this.rows(input.z));
      const z2_NC = F.square(F.mul(F.sub(x_NC, mu_NC), F.exp(F.neg(logScale_NC))));
      const nll_NC = F.add(F.add(F.mul(z2_NC, 0.5), logScale_NC), 0.5 * Math.log(2 * Math.PI));
      const nll_N = F.mean(nll_NC, 1);
      if (!weights) return F.mean(nll_N);
      const w_N = F.cast(weights, 'float32');
      return F.div(F.sum(F.mul(nll_N, w_N)), F.maximum(F.sum(w_N), 1e-12));
    });
  }

  sample(input: HeadInput, options: HeadSampleOptions): HeadSample {
    const F = this.F;
    const guided = options.guided ?? options.cfg !== 1;
    const values = F.tidy(() => {
      const { mu_NC, logScale_NC } = this.module.gaussian(this.rows(input.z));
      const [R, C] = mu_NC.shape;
      const N = guided ? R / 2 : R;
      let mu = mu_NC;
      let logScale = logScale_NC;
      if (guided) {
        const cond = F.slice(mu_NC, [0, 0], [N, C]);
        const uncond = F.slice(mu_NC, [N, 0], [N, C]);
        mu = F.sub(F.mul(cond, options.cfg), F.mul(uncond, options.cfg - 1));
        logScale = F.slice(logScale_NC, [0, 0], [N, C]);
      }
      if (options.greedy) return mu;
      const eps_NC = F.tensor(options.draws.normal([N, C], '__name__ noise'), [N, C]);
      return F.add(mu, F.mul(F.mul(F.exp(logScale), Math.sqrt(options.temperature)), eps_NC));
    });
    return { values };
  }
}
`;

const OPTIONS = String.raw`/** Options of head '__name__'. Unknown keys are an error (strict), every option has a default. */
import { z } from 'zod';

export const __camel__HeadOptions = z.object({
  /** Values per token (the tokenizer's latent channels). */
  tokenDim: z.number().int().positive().default(16),
  /** Width of the backbone's hidden state. */
  zChannels: z.number().int().positive().default(256),
  /** Range of the predicted log standard deviation. */
  minLogScale: z.number().default(-7),
  maxLogScale: z.number().default(3),
}).strict();

export type __Name__HeadOptions = z.output<typeof __camel__HeadOptions>;
`;

const INDEX = String.raw`/**
 * __package__: head '__name__' for Tessera, a diagonal Gaussian per continuous token.
 *
 * @example
 * { "head": { "use": "__name__", "options": { "tokenDim": 4, "zChannels": 64 } } }
 */
import { definePlugin, ENGINE, HEAD } from '@tessera/core';
import { instanceCachingFactory } from 'tsyringe';
import { __Name__Head } from './head';
import { __camel__HeadOptions } from './options';

export { __Name__Head, __Name__Network } from './head';
export { __camel__HeadOptions, type __Name__HeadOptions } from './options';

export const plugin = definePlugin({
  name: '__name__',
  kind: 'head',
  description: 'A diagonal Gaussian per continuous token (Gaussian NLL loss, tempered sampling, mean guidance)',
  options: __camel__HeadOptions,
  capabilities: {
    provides: [],
    requires: [{ slot: 'tokenizer', anyOf: ['continuous'], need: 'continuous tokens', fix: 'use a continuous tokenizer such as vae' }],
  },
  register(container, options) {
    container.register(HEAD, { useFactory: instanceCachingFactory((c) => new __Name__Head(c.resolve(ENGINE), options)) });
  },
});

export default plugin;
`;

const TEST = String.raw`// The conformance suite of @tessera/core/testing on a tiny instance, on every engine.
const { describeConformance, headConformance } = require('@tessera/core/testing');
const { plugin } = require('..');

const tokenDim = 4, zChannels = 8;
const normal = (F, rows, cols, rng) => F.tensor(Float32Array.from({ length: rows * cols }, () => rng.normal()), [rows, cols]);

describeConformance('head/__name__ conformance', headConformance({
  plugin,
  options: { tokenDim, zChannels },
  input: (F, rows, rng) => ({ z: normal(F, rows, zChannels, rng) }),
  target: (F, rows, rng) => ({ values: normal(F, rows, tokenDim, rng) }),
}));
`;

export function headFiles(v: TemplateVars): Record<string, string> {
  return { 'src/head.ts': fill(HEAD, v), 'src/options.ts': fill(OPTIONS, v), 'src/index.ts': fill(INDEX, v), 'test/conformance.test.js': fill(TEST, v) };
}

export const HEAD_SUMMARY = { what: 'a diagonal Gaussian per continuous token.', config: '{ "head": { "use": "__name__", "options": { "tokenDim": 4, "zChannels": 64 } } }' };
