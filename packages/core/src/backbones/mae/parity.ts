/**
 * Parity handlers of the `mae` backbone: `mar.model.forward` (spec/mar.md §4.4-4.6),
 * `far.model.forward` (spec/far.md §2.3) and `far.filter` (far.md §1).
 *
 * The training forwards replay the official draw order: [FAR: the level], [the orders,
 * one permutation per row, then the truncated-normal mask ratio], the label drop, then
 * the diffusion loss's t and ε. The loss itself belongs to `head-diffusion`, reached
 * through `maeParityHooks.diffusionLoss`; without it `loss` is not produced, while `z`,
 * `mask`, `x_filtered`, `x_index` and the `trace.*` tensors are compared in full.
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import { TesseraError } from '../../errors';
import type { ParityCase, ParityHandler, ParityOutputs } from '../../parity/types';
import { toHost } from '../../parity/host-tensors';
import type { HostTensor } from '../../tensor/host';
import type { DrawSource } from '../../rng/draws';
import { frequencyFilter, pyramidDown } from '../../engine/pyramid';
import { MaeTransformer } from './model';
import { maeOptionsSchema } from './options';
import { patchify } from './patchify';
import { maeParityHooks } from './parity-hooks';

type Variant = 'mar' | 'far';

interface OfficialModelConfig {
  img_size: number; vae_stride: number; patch_size: number;
  encoder_embed_dim: number; encoder_depth: number; encoder_num_heads: number;
  decoder_embed_dim: number; decoder_depth: number; decoder_num_heads: number;
  mlp_ratio: number; norm_eps?: number; vae_embed_dim: number;
  mask_ratio_min: number; label_drop_prob: number; class_num: number;
  attn_dropout: number; proj_dropout: number; buffer_size: number;
  diffloss_d: number; diffloss_w: number; num_sampling_steps: string; diffusion_batch_mul: number;
  mask?: boolean;
}

/** The model of a case, weights loaded (everything but `diffloss.*`). FAR's `class_emb` always has 1000 rows. */
function buildModel(c: ParityCase, engine: Engine, variant: Variant): { model: MaeTransformer; cfg: OfficialModelConfig } {
  const cfg = c.config<OfficialModelConfig>('model');
  const options = maeOptionsSchema.parse({
    imgSize: cfg.img_size, vaeStride: cfg.vae_stride, patchSize: cfg.patch_size, vaeEmbedDim: cfg.vae_embed_dim,
    encoderEmbedDim: cfg.encoder_embed_dim, encoderDepth: cfg.encoder_depth, encoderNumHeads: cfg.encoder_num_heads,
    decoderEmbedDim: cfg.decoder_embed_dim, decoderDepth: cfg.decoder_depth, decoderNumHeads: cfg.decoder_num_heads,
    mlpRatio: cfg.mlp_ratio, normEps: cfg.norm_eps ?? 1e-6, classNum: variant === 'far' ? 1000 : cfg.class_num,
    bufferSize: cfg.buffer_size, labelDropProb: cfg.label_drop_prob, attnDropout: cfg.attn_dropout, projDropout: cfg.proj_dropout,
  });
  const weights = new Map([...c.params()].filter(([k]) => !k.startsWith('diffloss.')));
  const model = new MaeTransformer(engine, options);
  model.loadStateDict(weights, { source: c.manifest.tensors });
  return { model, cfg };
}

/** One permutation per row, then one truncated-normal ratio shared by the batch → mask [B, L] (1 = predicted). */
function randomMasking(draws: DrawSource, B: number, L: number, ratioMin: number): { orders: Int32Array; mask: Float32Array } {
  const orders = new Int32Array(B * L);
  for (let b = 0; b < B; b++) orders.set(draws.permutation(L, `order ${b}`), b * L);
  const rate = draws.truncatedNormal([1], 1, 0.25, ratioMin, 1, 'mask ratio')[0];
  const numMasked = Math.ceil(L * rate);
  const mask = new Float32Array(B * L);
  for (let b = 0; b < B; b++) for (let i = 0; i < numMasked; i++) mask[b * L + orders[b * L + i]] = 1;
  return { orders, mask };
}

function diffLossHookOrUndefined(
  c: ParityCase, engine: Engine, cfg: OfficialModelConfig, draws: DrawSource,
  rows: { target_NC: Tensor; z_ND: Tensor; mask_N?: Tensor; level_N?: Tensor },
): Tensor | undefined {
  const hook = maeParityHooks.diffusionLoss;
  if (!hook) return undefined;
  return hook({
    engine, weights: c.params('diffloss.'), draws,
    tokenChannels: rows.target_NC.shape[1], zChannels: rows.z_ND.shape[1],
    depth: cfg.diffloss_d, width: cfg.diffloss_w, numSamplingSteps: String(cfg.num_sampling_steps),
    ...rows,
  });
}

/** [B, L, D] → [B·L·mul, D], the whole block repeated `mul` times (torch `.repeat(mul, 1)`). */
function tileRows(F: Engine, x_BLD: Tensor, mul: number): Tensor {
  const [B, L, D] = x_BLD.shape;
  return F.tile(F.reshape(x_BLD, [B * L, D]), [mul, 1]);
}

async function collect(engine: Engine, tensors: Record<string, Tensor | undefined>, host: Record<string, HostTensor>): Promise<ParityOutputs> {
  const out: ParityOutputs = new Map(Object.entries(host));
  for (const [name, t] of Object.entries(tensors)) {
    if (!t) continue;
    out.set(name, await toHost(engine, t));
    engine.dispose(t);
  }
  return out;
}

const intHost = (data: Int32Array, shape: number[]): HostTensor => ({ dtype: 'int32', shape, data });
const floatHost = (data: Float32Array, shape: number[]): HostTensor => ({ dtype: 'float32', shape, data });

export const marModelForwardHandler: ParityHandler = {
  kind: 'mar.model.forward',
  async run(c, engine) {
    const { model, cfg } = buildModel(c, engine, 'mar');
    const F = engine;
    try {
      const draws = c.draws();
      const latents = c.input('latents');
      const B = latents.shape[0], L = model.seqLen;
      const { orders, mask } = randomMasking(draws, B, L, cfg.mask_ratio_min);
      const tensors = F.tidy(() => {
        const tokens_BLC = patchify(F, F.fromHost(latents), cfg.patch_size);
        const visible_BL = F.tensor(mask.map((m) => 1 - m), [B, L]);
        const { z_BLD, encoderOut_BKD } = model.forward({ tokens: tokens_BLC, labels: F.fromHost(c.input('labels')), visible: visible_BL, draws });
        const mul = cfg.diffusion_batch_mul;
        const loss = diffLossHookOrUndefined(c, F, cfg, draws, {
          target_NC: tileRows(F, tokens_BLC, mul), z_ND: tileRows(F, z_BLD, mul),
          mask_N: F.tile(F.tensor(mask, [B * L]), [mul]),
        });
        return { loss, z: z_BLD, 'trace.encoder_out': encoderOut_BKD, 'trace.tokens': tokens_BLC };
      });
      return await collect(F, tensors, { mask: floatHost(mask, [B, L]), 'trace.orders': intHost(orders, [B, L]) });
    } finally {
      model.dispose();
    }
  },
};

export const farModelForwardHandler: ParityHandler = {
  kind: 'far.model.forward',
  async run(c, engine) {
    const { model, cfg } = buildModel(c, engine, 'far');
    const F = engine;
    try {
      const draws = c.draws();
      const latents = c.input('latents');
      const [B, , H] = latents.shape;
      const L = model.seqLen;
      // torch.randint(0, H, (1,)): one level for the whole batch, never H itself (far.md Q1)
      const level = draws.integers([1], 0, H, 'frequency level')[0];
      // The level-dependent lower bound uses a hard-coded 16, not seq_h (far.md §2.3).
      const masking = cfg.mask ? randomMasking(draws, B, L, (0.7 * level) / 16) : undefined;
      const tensors = F.tidy(() => {
        const latents_BCHW = F.fromHost(latents);
        const filtered_BCHW = frequencyFilter(F, latents_BCHW, level);
        const tokens_BLC = patchify(F, filtered_BCHW, cfg.patch_size);
        const target_BLC = patchify(F, latents_BCHW, cfg.patch_size);
        const visible_BL = masking ? F.tensor(masking.mask.map((m) => 1 - m), [B, L]) : undefined;
        const { z_BLD, encoderOut_BKD } = model.forward({ tokens: tokens_BLC, labels: F.fromHost(c.input('labels')), visible: visible_BL, draws });
        const mul = cfg.diffusion_batch_mul;
        const loss = diffLossHookOrUndefined(c, F, cfg, draws, {
          target_NC: tileRows(F, target_BLC, mul), z_ND: tileRows(F, z_BLD, mul),
          level_N: F.full([B * L * mul], level),
        });
        return { loss, x_filtered: filtered_BCHW, z: z_BLD, 'trace.encoder_out': encoderOut_BKD };
      });
      const seqH = model.seqH;
      const host: Record<string, HostTensor> = {
        x_index: floatHost(new Float32Array(B).fill(level), [B]),
        'trace.loss_weight_table': { dtype: 'float64', shape: [seqH], data: Float64Array.from({ length: seqH }, (_, b) => 1 + Math.sin((Math.PI / 2) * (b + 1) / seqH)) },
      };
      if (masking) {
        host.mask = floatHost(masking.mask, [B, L]);
        host['trace.orders'] = intHost(masking.orders, [B, L]);
      }
      return await collect(F, tensors, host);
    } finally {
      model.dispose();
    }
  },
};

/** The manifest's output name for a level (`level.05`), whatever its zero padding. */
function levelName(c: ParityCase, level: number): string {
  const found = Object.keys(c.manifest.outputs).find((k) => /^level\.\d+$/.test(k) && Number(k.slice(6)) === level);
  return found ?? `level.${String(level).padStart(2, '0')}`;
}

export const farFilterHandler: ParityHandler = {
  kind: 'far.filter',
  async run(c, engine) {
    const F = engine;
    const draws = c.draws();
    const latent = c.input('latent');
    const [B, , H] = latent.shape;
    const out: ParityOutputs = new Map();
    const x_BCHW = F.fromHost(latent);
    try {
      for (const level of c.config<number[]>('levels')) {
        const name = levelName(c, level);
        const suffix = name.slice('level.'.length);
        if (level < H) {
          // Levels below H come from the official training path, one replayed level draw each.
          const drawn = draws.integers([1], 0, H, 'frequency level')[0];
          if (drawn !== level) {
            throw new TesseraError('DRAW_MISMATCH', `\`${c.manifest.case}\`: level ${level} was recorded with level draw ${drawn}`, { data: { level, drawn } });
          }
          out.set(`trace.x_index.${suffix}`, floatHost(new Float32Array(B).fill(level), [B]));
        }
        const tensors = F.tidy(() => ({
          [name]: frequencyFilter(F, x_BCHW, level),
          ...(level > 0 ? { [`trace.area.${suffix}`]: F.add(pyramidDown(F, x_BCHW, level), 0) } : {}),
        }));
        for (const [k, v] of await collect(F, tensors, {})) out.set(k, v);
      }
    } finally {
      F.dispose(x_BCHW);
    }
    return out;
  },
};

export const maeParityHandlers: ParityHandler[] = [marModelForwardHandler, farModelForwardHandler, farFilterHandler];
