/**
 * Parity handlers of the `mae` backbone: `mar.model.forward` (spec/mar.md §4.4-4.6),
 * `far.model.forward` (spec/far.md §2.3) and `far.filter` (far.md §1).
 *
 * The training forwards replay the official draw order: [FAR: the level], [the orders,
 * one permutation per row, then the truncated-normal mask ratio], the label drop, then
 * the diffusion loss's t and ε. The loss belongs to the `diffusion` head plugin, which
 * the handlers resolve by name through a `PluginHost` at run time (./parity-plugins.ts),
 * as a config would; core never imports it.
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import { TesseraError } from '../../errors';
import type { ParityCase, ParityHandler, ParityOutputs } from '../../parity/types';
import { toHost } from '../../parity/host-tensors';
import type { HostTensor } from '../../tensor/host';
import type { DrawSource } from '../../rng/draws';
import { frequencyFilter, pyramidDown } from '../../engine/pyramid';
import type { Head } from '../../contracts/head';
import { HEAD } from '../../contracts/tokens';
import { MaeTransformer } from './model';
import { maeOptionsSchema } from './options';
import { patchify } from './patchify';
import { diffusionHeadOptionsFromOfficial, instantiatePlugin, maeOptionsFromOfficial, OfficialMaeConfig, parityPluginHost } from './parity-plugins';

type Variant = 'mar' | 'far';

type OfficialModelConfig = OfficialMaeConfig;

/** The model of a case, weights loaded (everything but `diffloss.*`). FAR's `class_emb` always has 1000 rows. */
function buildModel(c: ParityCase, engine: Engine, variant: Variant): { model: MaeTransformer; cfg: OfficialModelConfig } {
  const cfg = c.config<OfficialModelConfig>('model');
  const options = maeOptionsSchema.parse(maeOptionsFromOfficial(cfg, variant));
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

/**
 * The case's DiffLoss as the `diffusion` head plugin, weights loaded, and its mean loss
 * over the rows (the head tiles them `diffusion_batch_mul` times; MAR weights by the mask,
 * FAR takes the plain mean). Draws t then ε from `draws`.
 */
function diffusionLoss(
  c: ParityCase, engine: Engine, cfg: OfficialModelConfig, variant: Variant, draws: DrawSource,
  rows: { target_NC: Tensor; z_ND: Tensor; mask_N?: Tensor; level_N?: Tensor },
): Tensor {
  const head = instantiatePlugin<Head>(parityPluginHost(), 'head', 'diffusion', diffusionHeadOptionsFromOfficial(cfg, variant), HEAD, engine);
  try {
    head.module.loadStateDict(c.params('diffloss.'), { source: c.manifest.tensors });
    return head.loss({ z: rows.z_ND, level: rows.level_N }, { values: rows.target_NC }, rows.mask_N, draws);
  } finally {
    head.module.dispose();
  }
}

/** [B, L, D] → rows [B·L, D], batch-major. */
function rowsOf(F: Engine, x_BLD: Tensor): Tensor {
  const [B, L, D] = x_BLD.shape;
  return F.reshape(x_BLD, [B * L, D]);
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
        const loss = diffusionLoss(c, F, cfg, 'mar', draws, {
          target_NC: rowsOf(F, tokens_BLC), z_ND: rowsOf(F, z_BLD), mask_N: F.tensor(mask, [B * L]),
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
        const loss = diffusionLoss(c, F, cfg, 'far', draws, {
          target_NC: rowsOf(F, target_BLC), z_ND: rowsOf(F, z_BLD), level_N: F.full([B * L], level, 'int32'),
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
