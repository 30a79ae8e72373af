/**
 * Scaffold of a direction plugin: next-token prediction over continuous tokens in a
 * chosen scan order (row-major, or column-major by default), with a causal mask; each
 * sampling step runs the backbone's full forward over the prefix (no KV cache needed).
 */
import { TemplateVars, fill } from './common';

const DIRECTION = String.raw`/**
 * Direction '__name__': next-token prediction over the finest token map in a scan order
 * ('column-major' by default, or 'row-major'). The sequence is the backbone's start
 * position followed by tokens 0..N-2 of the order; hidden position i predicts token i
 * under a causal mask. Sampling runs the backbone's full forward over the tokens so far
 * and samples the next one from the last position, so any causal backbone that prepends
 * a start position (adaln) works, with or without a KV cache.
 */
import { TesseraError } from '@tessera/core';
import type { Direction, DirectionStep, DrawSource, Engine, SamplingContext, SamplingState, Tensor, Tokenizer, Tokens, TrainingExample } from '@tessera/core';
import type { __Name__DirectionOptions } from './options';

const SUBJECT = 'direction/__name__';

export interface __Name__State extends SamplingState {
  readonly step: number;
  readonly done: boolean;
  /** Labels, then the null labels when guided: int32 [R]. */
  readonly labels_R: Tensor;
  readonly guided: boolean;
  /** Tokens sampled so far in scan order, [B, n, C]. */
  readonly tokens_BnC: Tensor;
}

export class __Name__Direction implements Direction<__Name__State> {
  readonly id = SUBJECT;

  constructor(private readonly F: Engine, readonly options: __Name__DirectionOptions) {}

  /** Grid index (row-major) of each sequence position. */
  order(tokenizer: Tokenizer): Int32Array {
    if (tokenizer.space.kind !== 'continuous') throw new TesseraError('PLUGIN_INCOMPATIBLE', 'direction __name__ needs continuous tokens; use a continuous tokenizer such as vae', { subject: SUBJECT });
    const [h, w] = tokenizer.space.grid;
    return Int32Array.from({ length: h * w }, (_, s) => (this.options.order === 'row-major' ? s : (s % h) * w + Math.floor(s / h)));
  }

  schedule(tokenizer: Tokenizer): DirectionStep[] {
    const w = tokenizer.space.grid[1];
    return Array.from(this.order(tokenizer), (g, index) => ({ index, tokens: 1, label: 'token ' + index + ' (row ' + Math.floor(g / w) + ', column ' + (g % w) + ')' }));
  }

  trainingExample(tokens: Tokens, tokenizer: Tokenizer, _draws: DrawSource): TrainingExample {
    const F = this.F;
    const order = this.order(tokenizer);
    const N = order.length;
    if (tokens.kind !== 'continuous') throw new TesseraError('PLUGIN_INCOMPATIBLE', 'direction __name__ needs continuous tokens', { subject: SUBJECT });
    const latent = tokens.latent;
    return F.tidy(() => {
      const [B, C] = latent.shape;
      const rows_BNC = F.transpose(F.reshape(latent, [B, C, N]), [0, 2, 1]); // (B, C, h*w) -> (B, N, C)
      const ordered_BNC = F.gather(rows_BNC, F.tensor(order, [N], 'int32'), 1);
      return {
        inputs: F.slice(ordered_BNC, [0, 0, 0], [B, N - 1, C]),
        attention: { kind: 'causal' as const },
        levels: F.zeros([N], 'int32'),
        target: { values: F.reshape(ordered_BNC, [B * N, C]) },
      };
    });
  }

  init(ctx: SamplingContext): __Name__State {
    const F = this.F;
    const space = ctx.tokenizer.space;
    this.order(ctx.tokenizer);
    const B = ctx.labels.shape[0];
    const C = space.kind === 'continuous' ? space.channels : 0;
    const guided = ctx.settings.cfg !== 1;
    return {
      step: 0,
      done: false,
      guided,
      labels_R: guided ? F.concat([ctx.labels, ctx.nullLabels], 0) : F.reshape(ctx.labels, [B]),
      tokens_BnC: F.zeros([B, 0, C]),
    };
  }

  step(state: __Name__State, ctx: SamplingContext): __Name__State {
    const F = this.F;
    const N = this.order(ctx.tokenizer).length;
    const i = state.step;
    if (state.done) throw new TesseraError('USAGE', 'the sampling loop is already done', { subject: SUBJECT });
    const s = ctx.settings;
    const progress = N === 1 ? 1 : i / (N - 1);
    const cfg = s.cfgSchedule === 'constant' ? s.cfg : 1 + (s.cfg - 1) * progress;
    const tokens_BnC = F.tidy(() => {
      const x = state.tokens_BnC;
      const inputs = state.guided ? F.concat([x, x], 0) : x;
      const { hidden } = ctx.backbone.forward({ inputs, labels: state.labels_R, attention: { kind: 'causal' }, levels: F.zeros([N], 'int32') });
      const [R, n, D] = hidden.shape;
      const z_RD = F.reshape(F.slice(hidden, [0, n - 1, 0], [R, 1, D]), [R, D]);
      const sample = ctx.head.sample({ z: z_RD }, {
        temperature: s.temperature, cfg, guided: state.guided, topK: s.topK, topP: s.topP, greedy: s.greedy,
        diffusionSteps: s.diffusionSteps, progress, draws: ctx.draws,
      });
      if (!sample.values) throw new TesseraError('PLUGIN_INCOMPATIBLE', 'the head returned no continuous values; use a continuous head', { subject: SUBJECT });
      const [B, , C] = x.shape;
      return F.concat([x, F.reshape(sample.values, [B, 1, C])], 1);
    });
    F.dispose(state.tokens_BnC);
    return { ...state, step: i + 1, done: i + 1 === N, tokens_BnC };
  }

  finalTokens(state: __Name__State, ctx: SamplingContext): Tokens {
    const F = this.F;
    const order = this.order(ctx.tokenizer);
    const [h, w] = ctx.tokenizer.space.grid;
    const inverse = new Int32Array(order.length);
    order.forEach((g, s) => { inverse[g] = s; });
    return {
      kind: 'continuous',
      latent: F.tidy(() => {
        const [B, N, C] = state.tokens_BnC.shape;
        const rows_BNC = F.gather(state.tokens_BnC, F.tensor(inverse, [N], 'int32'), 1);
        return F.reshape(F.transpose(rows_BNC, [0, 2, 1]), [B, C, h, w]); // (B, N, C) -> (B, C, h, w)
      }),
    };
  }

  dispose(state: __Name__State): void {
    this.F.dispose([state.labels_R, state.tokens_BnC]);
  }
}
`;

const OPTIONS = String.raw`/** Options of direction '__name__'. Unknown keys are an error (strict), every option has a default. */
import { z } from 'zod';

export const __camel__DirectionOptions = z.object({
  /** Scan order over the token grid. */
  order: z.enum(['column-major', 'row-major']).default('column-major'),
}).strict();

export type __Name__DirectionOptions = z.output<typeof __camel__DirectionOptions>;
`;

const INDEX = String.raw`/**
 * __package__: direction '__name__' for Tessera, next-token prediction in a scan order.
 *
 * @example
 * { "direction": { "use": "__name__", "options": { "order": "column-major" } } }
 */
import { definePlugin, DIRECTION, ENGINE } from '@tessera/core';
import { instanceCachingFactory } from 'tsyringe';
import { __Name__Direction } from './direction';
import { __camel__DirectionOptions } from './options';

export { __Name__Direction, type __Name__State } from './direction';
export { __camel__DirectionOptions, type __Name__DirectionOptions } from './options';

export const plugin = definePlugin({
  name: '__name__',
  kind: 'direction',
  description: 'Next-token prediction over continuous tokens in a column-major or row-major scan order (causal attention)',
  options: __camel__DirectionOptions,
  capabilities: {
    provides: ['attention.causal'],
    requires: [
      { slot: 'tokenizer', anyOf: ['continuous'], need: 'continuous tokens', fix: 'use a continuous tokenizer such as vae' },
      { slot: 'backbone', anyOf: ['attention.causal'], need: 'causal attention', fix: 'use backbone adaln' },
    ],
  },
  register(container, options) {
    container.register(DIRECTION, { useFactory: instanceCachingFactory((c) => new __Name__Direction(c.resolve(ENGINE), options)) });
  },
});

export default plugin;
`;

const TEST = String.raw`// The conformance suite of @tessera/core/testing, on the kit's pixel tokenizer and core's adaln backbone, on every engine.
const { adalnBackbone } = require('@tessera/core');
const { describeConformance, directionConformance, pixelTokenizer } = require('@tessera/core/testing');
const { plugin } = require('..');

// 4x4 pixels in 2x2 patches: a 2x2 grid of 12-value tokens; adaln's scales [1, 2] hold the start and 4 tokens.
const space = {
  name: 'continuous (pixels)',
  tokenizer: { plugin: pixelTokenizer, options: { resolution: 4, patchSize: 2 } },
  backbone: { plugin: adalnBackbone, options: { depth: 1, embedDim: 16, numHeads: 2, classes: 4, patchNums: [1, 2], vocabEmbedDim: 12 } },
  classes: 4,
};

describeConformance('direction/__name__ conformance', directionConformance({ plugin, options: {}, spaces: [space] }));
describeConformance('direction/__name__ conformance (row-major)', directionConformance({ plugin, options: { order: 'row-major' }, spaces: [space] }));
`;

export function directionFiles(v: TemplateVars): Record<string, string> {
  return { 'src/direction.ts': fill(DIRECTION, v), 'src/options.ts': fill(OPTIONS, v), 'src/index.ts': fill(INDEX, v), 'test/conformance.test.js': fill(TEST, v) };
}

export const DIRECTION_SUMMARY = { what: 'next-token prediction over continuous tokens in a column-major or row-major scan order.', config: '{ "direction": { "use": "__name__", "options": { "order": "column-major" } } }' };
