/**
 * Scaffold of a backbone plugin: a tiny causal transformer (pre-norm blocks of one
 * multi-head attention and an MLP) over a class start token and the token inputs, built
 * from core's nn layers and the engine's attention op.
 */
import { TemplateVars, fill } from './common';

const BACKBONE = String.raw`/**
 * Backbone '__name__': a small decoder-only transformer. The sequence is a start token
 * (the class embedding; label 'classes' is the null class) followed by the token inputs
 * projected to 'width'; learned absolute positions; 'depth' pre-norm blocks of causal
 * multi-head self-attention and a GELU MLP; a final LayerNorm. hidden[:, i] predicts
 * token i, as directions 'raster'-like orders expect.
 */
import { Embedding, LayerNorm, Linear, Module, TesseraError, init } from '@tessera/core';
import type { Backbone, BackboneInput, BackboneOutput, Engine, Parameter, Tensor } from '@tessera/core';
import type { __Name__BackboneOptions } from './options';

const SUBJECT = 'backbone/__name__';

class Block extends Module {
  readonly norm1: LayerNorm;
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly norm2: LayerNorm;
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(F: Engine, readonly width: number, readonly heads: number) {
    super(F);
    this.norm1 = this.child('norm1', new LayerNorm(F, width, 1e-6));
    this.qkv = this.child('qkv', new Linear(F, width, 3 * width));
    this.proj = this.child('proj', new Linear(F, width, width));
    this.norm2 = this.child('norm2', new LayerNorm(F, width, 1e-6));
    this.fc1 = this.child('fc1', new Linear(F, width, 4 * width));
    this.fc2 = this.child('fc2', new Linear(F, 4 * width, width));
  }

  forward(x_BLC: Tensor, mask_11LL: Tensor): Tensor {
    const F = this.F;
    const [B, L, C] = x_BLC.shape;
    const H = this.heads, d = C / H;
    const qkv_3BHLd = F.transpose(F.reshape(this.qkv.forward(this.norm1.forward(x_BLC)), [B, L, 3, H, d]), [2, 0, 3, 1, 4]); // (B, L, 3, H, d) -> (3, B, H, L, d)
    const [q, k, v] = F.split(qkv_3BHLd, [1, 1, 1], 0).map((t) => F.reshape(t, [B, H, L, d]));
    const attended_BLC = F.reshape(F.transpose(F.attention(q, k, v, { mask: mask_11LL }), [0, 2, 1, 3]), [B, L, C]); // (B, H, L, d) -> (B, L, C)
    const h_BLC = F.add(x_BLC, this.proj.forward(attended_BLC));
    return F.add(h_BLC, this.fc2.forward(F.gelu(this.fc1.forward(this.norm2.forward(h_BLC)))));
  }
}

export class __Name__Network extends Module {
  readonly inputProj: Linear;
  readonly classEmbed: Embedding;
  readonly posEmbed: Parameter;
  readonly blocks: Block[];
  readonly norm: LayerNorm;

  constructor(F: Engine, readonly options: __Name__BackboneOptions) {
    super(F);
    const { inputDim, width, depth, heads, classes, maxLength } = options;
    this.inputProj = this.child('input_proj', new Linear(F, inputDim, width));
    this.classEmbed = this.child('class_embed', new Embedding(F, classes + 1, width));
    this.posEmbed = this.param('pos_embed', [1, maxLength, width], init.normal(0.02));
    this.blocks = this.list('blocks', Array.from({ length: depth }, () => new Block(F, width, heads)));
    this.norm = this.child('norm', new LayerNorm(F, width, 1e-6));
  }
}

export class __Name__Backbone implements Backbone {
  readonly id = SUBJECT;
  readonly module: __Name__Network;

  constructor(private readonly F: Engine, readonly options: __Name__BackboneOptions) {
    if (options.width % options.heads !== 0) throw new TesseraError('CONFIG_INVALID', 'width ' + options.width + ' must be a multiple of heads ' + options.heads, { subject: SUBJECT });
    this.module = new __Name__Network(F, options);
  }

  forward(input: BackboneInput): BackboneOutput {
    const F = this.F;
    if (input.attention.kind !== 'causal') {
      throw new TesseraError('PLUGIN_INCOMPATIBLE', 'backbone __name__ attends causally; got a ' + input.attention.kind + ' pattern. Use a direction with causal attention', { subject: SUBJECT });
    }
    const m = this.module;
    const [B, n] = input.inputs.shape;
    const L = n + 1;
    if (L > this.options.maxLength) throw new TesseraError('SHAPE_MISMATCH', 'the sequence has ' + L + ' positions; maxLength is ' + this.options.maxLength, { subject: SUBJECT });
    return F.tidy(() => {
      const start_B1C = F.reshape(m.classEmbed.forward(F.cast(input.labels, 'int32')), [B, 1, this.options.width]);
      const tokens_BnC = n > 0 ? [m.inputProj.forward(input.inputs)] : [];
      let x_BLC = F.add(F.concat([start_B1C, ...tokens_BnC], 1), F.slice(m.posEmbed.value, [0, 0, 0], [1, L, this.options.width]));
      const bias = new Float32Array(L * L);
      for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) bias[i * L + j] = -Infinity;
      const mask_11LL = F.tensor(bias, [1, 1, L, L]);
      for (const block of m.blocks) x_BLC = block.forward(x_BLC, mask_11LL);
      return { hidden: m.norm.forward(x_BLC) };
    });
  }
}
`;

const OPTIONS = String.raw`/** Options of backbone '__name__'. Unknown keys are an error (strict), every option has a default. */
import { z } from 'zod';

export const __camel__BackboneOptions = z.object({
  /** Width of one token's input feature (the tokenizer's channels). */
  inputDim: z.number().int().positive().default(16),
  width: z.number().int().positive().default(64),
  depth: z.number().int().positive().default(2),
  heads: z.number().int().positive().default(4),
  /** Number of classes; label 'classes' is the null (unconditional) class. */
  classes: z.number().int().positive().default(10),
  /** Longest sequence (start token included). */
  maxLength: z.number().int().positive().default(257),
}).strict();

export type __Name__BackboneOptions = z.output<typeof __camel__BackboneOptions>;
`;

const INDEX = String.raw`/**
 * __package__: backbone '__name__' for Tessera, a tiny causal transformer.
 *
 * @example
 * { "backbone": { "use": "__name__", "options": { "inputDim": 8, "width": 64, "depth": 2, "classes": 10 } } }
 */
import { BACKBONE, definePlugin, ENGINE } from '@tessera/core';
import { instanceCachingFactory } from 'tsyringe';
import { __Name__Backbone } from './backbone';
import { __camel__BackboneOptions } from './options';

export { __Name__Backbone, __Name__Network } from './backbone';
export { __camel__BackboneOptions, type __Name__BackboneOptions } from './options';

export const plugin = definePlugin({
  name: '__name__',
  kind: 'backbone',
  description: 'A tiny causal transformer over a class start token and the token inputs',
  options: __camel__BackboneOptions,
  capabilities: { provides: ['attention.causal'], requires: [] },
  register(container, options) {
    container.register(BACKBONE, { useFactory: instanceCachingFactory((c) => new __Name__Backbone(c.resolve(ENGINE), options)) });
  },
});

export default plugin;
`;

const TEST = String.raw`// The conformance suite of @tessera/core/testing on a tiny instance, on every engine.
const { backboneConformance, describeConformance } = require('@tessera/core/testing');
const { plugin } = require('..');

const inputDim = 4;
const normal = (F, shape, rng) => F.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);

describeConformance('backbone/__name__ conformance', backboneConformance({
  plugin,
  options: { inputDim, width: 16, depth: 1, heads: 2, classes: 4, maxLength: 8 },
  input: (F, B, rng) => ({
    inputs: normal(F, [B, 6, inputDim], rng),
    // the second image is unconditional (the null class)
    labels: F.tensor(Int32Array.from({ length: B }, (_, b) => (b % 2 ? 4 : 1)), [B], 'int32'),
    attention: { kind: 'causal' },
  }),
}));
`;

export function backboneFiles(v: TemplateVars): Record<string, string> {
  return { 'src/backbone.ts': fill(BACKBONE, v), 'src/options.ts': fill(OPTIONS, v), 'src/index.ts': fill(INDEX, v), 'test/conformance.test.js': fill(TEST, v) };
}

export const BACKBONE_SUMMARY = { what: 'a tiny causal transformer over a class start token and the token inputs.', config: '{ "backbone": { "use": "__name__", "options": { "inputDim": 8, "width": 64, "depth": 2, "classes": 10 } } }' };
