/**
 * Parity handlers of FAR's samplers (spec/far.md §2.4-2.5, §7): `far.model.sample`
 * (`sample_tokens_nomask` or, with `config.variant: 'mask'`, `sample_tokens_mask`; traces
 * per step) and `far.e2e.sample` (labels to image through the generic `Sampler` and the
 * `vae` tokenizer). Everything comes from the manifest; the backbone, head and tokenizer
 * are resolved by name through a `PluginHost`, never imported.
 */
import {
  BACKBONE, Backbone, diffusionHeadOptionsFromOfficial, Engine, HEAD, Head, HostTensor, instantiatePlugin, maeBackbone,
  maeE2eSample, maeOptionsFromOfficial, OfficialMaeConfig, parityPluginHost, ParityCase, ParityHandler, ParityOutputs,
  parseSettings, SamplingContext, Tensor, TesseraPlugin, toHost, toInt32, Tokenizer,
} from '@tessera/core';
import { FrequencyDirection } from './frequency';
import { frequencyDirectionOptionsSchema } from './options';

function directionOptions(c: ParityCase): Record<string, unknown> {
  const variant = c.config<string>('variant');
  return { masking: variant === 'mask' };
}

/** The official samplers ignore `cfg_schedule` and always ramp linearly. */
function settingsOf(c: ParityCase): ReturnType<typeof parseSettings> {
  return parseSettings({ cfg: c.config<number>('cfg'), cfgSchedule: 'linear', temperature: c.config<number>('temperature') });
}

/** A tokenizer stand-in describing the latent grid, with FAR's area/bicubic pyramid (model cases have no autoencoder). */
function latentSpace(F: Engine, cfg: OfficialMaeConfig): Tokenizer {
  const side = cfg.img_size / cfg.vae_stride;
  const unavailable = (): never => { throw new Error('latent-space stand-in: no autoencoder in a model case'); };
  return {
    id: 'parity/latent-space',
    space: { kind: 'continuous', channels: cfg.vae_embed_dim, grid: [side, side] },
    resolution: [cfg.img_size, cfg.img_size],
    module: undefined as never,
    encode: unavailable,
    decode: unavailable,
    pyramid: {
      down: (x: Tensor, size: [number, number]) => F.interpolate(x, size, 'area'),
      up: (x: Tensor, size: [number, number]) => F.interpolate(x, size, 'bicubic'),
    },
  };
}

const pad = (s: number): string => String(s).padStart(2, '0');
const f64 = (v: number): HostTensor => ({ dtype: 'float64', shape: [1], data: Float64Array.of(v) });
const f32 = (v: number): HostTensor => ({ dtype: 'float32', shape: [1], data: Float32Array.of(v) });

export const farModelSampleHandler: ParityHandler = {
  kind: 'far.model.sample',
  async run(c, engine) {
    const cfg = c.config<OfficialMaeConfig>('model');
    const host = parityPluginHost([maeBackbone as TesseraPlugin]);
    const backbone = instantiatePlugin<Backbone>(host, 'backbone', 'mae', maeOptionsFromOfficial(cfg, 'far'), BACKBONE, engine);
    const head = instantiatePlugin<Head>(host, 'head', 'diffusion', diffusionHeadOptionsFromOfficial(cfg, 'far'), HEAD, engine);
    const direction = new FrequencyDirection(engine, frequencyDirectionOptionsSchema.parse(directionOptions(c)));
    const labels = toInt32(c.input('labels'));
    const B = labels.length;
    const ctx: SamplingContext = {
      tokenizer: latentSpace(engine, cfg), backbone, head, draws: c.draws(), settings: settingsOf(c),
      labels: engine.tensor(labels, [B], 'int32'), nullLabels: engine.full([B], 1000, 'int32'),
    };
    const out: ParityOutputs = new Map();
    let state;
    try {
      backbone.module.loadStateDict(new Map([...c.params()].filter(([k]) => !k.startsWith('diffloss.'))), { source: c.file });
      head.module.loadStateDict(c.params('diffloss.'), { source: c.file });
      state = direction.init(ctx);
      const L = state.tokens_BLC.shape[1];
      if (state.orders) out.set('trace.orders', { dtype: 'int32', shape: [B, L], data: state.orders });
      while (!state.done) {
        state = direction.step(state, ctx);
        const it = state.last as NonNullable<typeof state.last>;
        const k = pad(state.step - 1);
        out.set(`trace.step.${k}.temperature`, f64(it.temperature));
        out.set(`trace.step.${k}.cfg`, f64(it.cfg));
        out.set(`trace.step.${k}.index`, f32(it.level));
        if (it.maskIn) out.set(`trace.step.${k}.mask_in`, { dtype: 'float32', shape: [B, L], data: Float32Array.from(it.maskIn) });
      }
      const tokens = direction.finalTokens(state, ctx);
      if (tokens.kind === 'continuous') {
        out.set('tokens', await toHost(engine, tokens.latent));
        engine.dispose(tokens.latent);
      }
      return out;
    } finally {
      if (state) direction.dispose(state);
      engine.dispose([ctx.labels, ctx.nullLabels]);
      backbone.module.dispose();
      head.module.dispose();
    }
  },
};

export const farE2eSampleHandler: ParityHandler = {
  kind: 'far.e2e.sample',
  run: (c, engine) => maeE2eSample(c, engine, 'far', [maeBackbone as TesseraPlugin], { use: 'frequency', options: directionOptions(c) }, settingsOf(c)),
};

export const frequencyParityHandlers: ParityHandler[] = [farModelSampleHandler, farE2eSampleHandler];
