/**
 * Parity handlers of MAR's sampler (spec/mar.md §6, §11): `mar.model.sample` (the
 * `sample_tokens` loop with linear, constant or no guidance; traces per iteration) and
 * `mar.e2e.sample` (labels to image through the generic `Sampler` and the `vae`
 * tokenizer). Everything comes from the manifest; the backbone, head and tokenizer are
 * resolved by name through a `PluginHost`, never imported.
 */
import {
  BACKBONE, Backbone, diffusionHeadOptionsFromOfficial, HEAD, Head, HostTensor, instantiatePlugin, maeBackbone, maeE2eSample,
  maeOptionsFromOfficial, OfficialMaeConfig, parityPluginHost, ParityCase, ParityHandler, ParityOutputs,
  parseSettings, SamplingContext, TesseraPlugin, toHost, toInt32, Tokenizer,
} from '@tessera/core';
import { MaskedDirection } from './masked';
import { maskedDirectionOptionsSchema } from './options';

const host = (): ReturnType<typeof parityPluginHost> => parityPluginHost([maeBackbone as TesseraPlugin]);

function directionOptions(c: ParityCase, cfg: OfficialMaeConfig): Record<string, unknown> {
  return { numIterations: c.config<number>('num_iter'), maskRatioMin: cfg.mask_ratio_min, patchSize: cfg.patch_size };
}

function settingsOf(c: ParityCase): ReturnType<typeof parseSettings> {
  return parseSettings({ cfg: c.config<number>('cfg'), cfgSchedule: c.config<'linear' | 'constant'>('cfg_schedule'), temperature: c.config<number>('temperature') });
}

/** A tokenizer stand-in that only describes the latent grid (model cases have no autoencoder). */
function latentSpace(cfg: OfficialMaeConfig): Tokenizer {
  const side = cfg.img_size / cfg.vae_stride;
  const unavailable = (): never => { throw new Error('latent-space stand-in: no autoencoder in a model case'); };
  return {
    id: 'parity/latent-space',
    space: { kind: 'continuous', channels: cfg.vae_embed_dim, grid: [side, side] },
    resolution: [cfg.img_size, cfg.img_size],
    module: undefined as never,
    encode: unavailable,
    decode: unavailable,
  };
}

const pad = (s: number): string => String(s).padStart(2, '0');
const f32 = (v: number): HostTensor => ({ dtype: 'float32', shape: [1], data: Float32Array.of(v) });

export const marModelSampleHandler: ParityHandler = {
  kind: 'mar.model.sample',
  async run(c, engine) {
    const cfg = c.config<OfficialMaeConfig>('model');
    const h = host();
    const backbone = instantiatePlugin<Backbone>(h, 'backbone', 'mae', maeOptionsFromOfficial(cfg, 'mar'), BACKBONE, engine);
    const head = instantiatePlugin<Head>(h, 'head', 'diffusion', diffusionHeadOptionsFromOfficial(cfg, 'mar'), HEAD, engine);
    const direction = new MaskedDirection(engine, maskedDirectionOptionsSchema.parse(directionOptions(c, cfg)));
    const labels = toInt32(c.input('labels'));
    const B = labels.length;
    const ctx: SamplingContext = {
      tokenizer: latentSpace(cfg), backbone, head, draws: c.draws(), settings: settingsOf(c),
      labels: engine.tensor(labels, [B], 'int32'), nullLabels: engine.full([B], cfg.class_num, 'int32'),
    };
    const out: ParityOutputs = new Map();
    let state;
    try {
      backbone.module.loadStateDict(new Map([...c.params()].filter(([k]) => !k.startsWith('diffloss.'))), { source: c.file });
      head.module.loadStateDict(c.params('diffloss.'), { source: c.file });
      state = direction.init(ctx);
      out.set('trace.orders', { dtype: 'int32', shape: [B, state.sequence.L], data: state.orders });
      while (!state.done) {
        state = direction.step(state, ctx);
        const it = state.last as NonNullable<typeof state.last>;
        const k = pad(state.step - 1);
        out.set(`trace.step.${k}.mask_len`, f32(it.maskLen));
        out.set(`trace.step.${k}.mask_next`, { dtype: 'uint8', shape: [B, state.sequence.L], data: it.maskNext });
        out.set(`trace.step.${k}.cfg`, f32(it.cfg));
      }
      const tokens = direction.finalTokens(state);
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

export const marE2eSampleHandler: ParityHandler = {
  kind: 'mar.e2e.sample',
  run(c, engine) {
    const cfg = c.config<OfficialMaeConfig>('model');
    return maeE2eSample(c, engine, 'mar', [maeBackbone as TesseraPlugin], { use: 'masked', options: directionOptions(c, cfg) }, settingsOf(c));
  },
};

export const maskedParityHandlers: ParityHandler[] = [marModelSampleHandler, marE2eSampleHandler];
