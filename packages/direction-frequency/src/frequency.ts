/**
 * The next-frequency direction of FAR ("Frequency Autoregressive Image Generation with
 * Continuous Tokens", §3; spec/far.md §1-3; yuhuUSTC/FAR `models/far.py`). The unit of
 * one AR step is a frequency band: the backbone sees the latent low-passed to level k
 * (area down to k×k, bicubic back up; level 0 = zeros), is told k through the head's
 * level conditioning, and predicts the whole latent.
 *
 * Training: one level k ~ U{0..H−1} per batch; inputs = the low-passed latent, targets =
 * the full latent, plain mean loss over all tokens (optionally scaled by the
 * frequency-aware weight). With `masking`, one order per image and a mask ratio from
 * N(1, 0.25²) truncated to [0.7·k/16, 1] also hide tokens from the encoder.
 *
 * Sampling (`sample_tokens_nomask`): for each level k_s of the list, the current estimate
 * is re-predicted in full and low-passed to k_{s+1} for the next step. With `masking`
 * (`sample_tokens_mask`): a cosine schedule unmasks positions along random orders; each
 * step re-predicts every position, keeps those not masked for the next step (earlier ones
 * are overwritten), and low-passes the estimate from step 1 on. Both always guide by
 * default. Draw order: [masking: B permutations], then per step the head's draws.
 */
import {
  Direction, DirectionStep, DrawSource, Engine, LatentPyramid, patchify, SamplingContext, SamplingState, Tensor,
  TesseraError, Tokenizer, Tokens, TrainingExample, unpatchify,
} from '@tessera/core';
import type { FrequencyDirectionOptions } from './options';
import { checkLevel, levelLossWeight, lowPass, stepCfg, stepMaskLength, stepTemperature } from './schedule';

const SUBJECT = 'direction/frequency';

/** Token layout of the tokenizer's latent map. */
interface Grid { H: number; channels: number; seqH: number; L: number; C: number; pyramid: LatentPyramid }

/** What one step used (progress displays and parity traces). */
export interface FrequencyStep {
  level: number;
  cfg: number;
  temperature: number;
  /** The mask the encoder saw, [B·L] (masking only). */
  maskIn?: Uint8Array;
}

export interface FrequencyState extends SamplingState {
  readonly B: number;
  /** Current estimate as tokens [B, L, C]. */
  readonly tokens_BLC: Tensor;
  /** Masking: 1 = masked, [B·L], and the orders [B·L]. */
  readonly mask?: Uint8Array;
  readonly orders?: Int32Array;
  readonly last?: FrequencyStep;
}

export class FrequencyDirection implements Direction<FrequencyState> {
  readonly id = SUBJECT;

  constructor(private readonly F: Engine, readonly options: FrequencyDirectionOptions) {}

  private grid(tokenizer: Tokenizer): Grid {
    const space = tokenizer.space;
    const pyramid = tokenizer.pyramid;
    if (space.kind !== 'continuous' || !pyramid) {
      throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${SUBJECT}\` low-passes continuous latents through the tokenizer's pyramid; \`${tokenizer.id}\` ${space.kind !== 'continuous' ? 'produces discrete tokens' : 'has no pyramid'}. Use a continuous tokenizer such as \`vae\`.`, {
        subject: SUBJECT, data: { tokenizer: tokenizer.id },
      });
    }
    const [H, W] = space.grid;
    const p = this.options.patchSize;
    checkLevel(0, H, W);
    if (H % p !== 0) throw new TesseraError('CONFIG_INVALID', `the ${H}x${W} latent grid is not divisible by \`patchSize\` ${p}`, { subject: SUBJECT, data: { grid: [H, W], patchSize: p } });
    for (const k of this.options.levels) checkLevel(k, H, W);
    const seqH = H / p;
    return { H, channels: space.channels, seqH, L: seqH * seqH, C: space.channels * p * p, pyramid };
  }

  schedule(tokenizer: Tokenizer): DirectionStep[] {
    const { L } = this.grid(tokenizer);
    const levels = this.options.levels, K = levels.length;
    return levels.map((k, index) => ({
      index,
      tokens: this.options.masking ? L - stepMaskLength(L, index, K) : L,
      label: `level ${k} (${index + 1}/${K})`,
    }));
  }

  trainingExample(tokens: Tokens, tokenizer: Tokenizer, draws: DrawSource): TrainingExample {
    const F = this.F;
    const g = this.grid(tokenizer);
    if (tokens.kind !== 'continuous') throw new TesseraError('SHAPE_MISMATCH', 'expected continuous tokens', { subject: SUBJECT });
    const B = tokens.latent.shape[0];
    // torch.randint(0, H, (1,)): one level for the batch, never H itself (far.md Q1)
    const level = draws.integers([1], 0, g.H, 'frequency level')[0];
    let visible: Tensor | undefined;
    if (this.options.masking) {
      const orders = sampleOrders(draws, B, g.L);
      const low = (this.options.maskRatioMin * level) / this.options.maskRatioLevelScale;
      const rate = draws.truncatedNormal([1], 1, 0.25, low, 1, 'mask ratio')[0];
      const mask = maskByOrder(orders, B, g.L, Math.ceil(g.L * rate));
      visible = F.tensor(Float32Array.from(mask, (m) => 1 - m), [B, g.L]);
    }
    const example = F.tidy(() => {
      const inputs = patchify(F, lowPass(F, g.pyramid, tokens.latent, level), this.options.patchSize);
      const target_BLC = patchify(F, tokens.latent, this.options.patchSize);
      return { inputs, values: F.reshape(target_BLC, [B * g.L, g.C]), headLevels: F.full([B * g.L], level, 'int32') };
    });
    return {
      inputs: example.inputs,
      attention: { kind: 'bidirectional' },
      visible,
      headLevels: example.headLevels,
      target: { values: example.values },
      lossScale: this.options.lossWeight ? levelLossWeight(level, g.H) : undefined,
    };
  }

  init(ctx: SamplingContext): FrequencyState {
    const g = this.grid(ctx.tokenizer);
    const B = ctx.labels.shape[0];
    const tokens_BLC = this.F.zeros([B, g.L, g.C]);
    if (!this.options.masking) return { step: 0, done: false, B, tokens_BLC };
    return { step: 0, done: false, B, tokens_BLC, orders: sampleOrders(ctx.draws, B, g.L), mask: new Uint8Array(B * g.L).fill(1) };
  }

  step(state: FrequencyState, ctx: SamplingContext): FrequencyState {
    const F = this.F;
    const g = this.grid(ctx.tokenizer);
    const { B } = state;
    const levels = this.options.levels, K = levels.length, s = state.step;
    const { cfg, cfgSchedule, temperature } = ctx.settings;
    const info: FrequencyStep = {
      level: levels[s],
      cfg: stepCfg(cfg, cfgSchedule, s, K),
      temperature: stepTemperature(temperature, this.options.temperatureSchedule, s, K),
      maskIn: state.mask,
    };
    const sampled_BLC = this.predict(state, ctx, g, info);
    let next_BLC: Tensor;
    let mask: Uint8Array | undefined;
    try {
      const filterTo = s < K - 1 && (!this.options.masking || s > 0) ? levels[s + 1] : undefined;
      const estimate_BLC = filterTo === undefined ? sampled_BLC : F.tidy(() => {
        const latent = unpatchify(F, sampled_BLC, g.channels, this.options.patchSize, g.seqH, g.seqH);
        return patchify(F, lowPass(F, g.pyramid, latent, filterTo), this.options.patchSize);
      });
      if (this.options.masking) {
        // Positions not masked for the next step take the new estimate; the rest restart from zero.
        mask = maskByOrder(state.orders as Int32Array, B, g.L, stepMaskLength(g.L, s, K));
        const keep_BL1 = F.tensor(Float32Array.from(mask, (m) => 1 - m), [B, g.L, 1]);
        next_BLC = F.tidy(() => F.mul(estimate_BLC, keep_BL1));
        F.dispose([keep_BL1, ...(estimate_BLC !== sampled_BLC ? [estimate_BLC] : [])]);
      } else {
        next_BLC = estimate_BLC === sampled_BLC ? F.tidy(() => F.add(sampled_BLC, 0)) : estimate_BLC; // (the scalar operand is a tensor too)
      }
    } finally {
      F.dispose(sampled_BLC);
    }
    F.dispose(state.tokens_BLC);
    return { ...state, step: s + 1, done: s + 1 >= K, tokens_BLC: next_BLC, mask, last: info };
  }

  /** The backbone on the current estimate and the head at every position; the conditional half, [B, L, C]. */
  private predict(state: FrequencyState, ctx: SamplingContext, g: Grid, info: FrequencyStep): Tensor {
    const F = this.F;
    const { B, mask } = state;
    const guided = this.options.alwaysGuided || ctx.settings.cfg !== 1;
    const R = guided ? 2 * B : B;
    const z_ND = F.tidy(() => {
      const x = state.tokens_BLC;
      const visible_BL = mask ? F.tensor(Float32Array.from(mask, (m) => 1 - m), [B, g.L]) : undefined;
      const { hidden } = ctx.backbone.forward({
        inputs: guided ? F.concat([x, x], 0) : x,
        labels: guided ? F.concat([ctx.labels, ctx.nullLabels], 0) : ctx.labels,
        visible: visible_BL && guided ? F.concat([visible_BL, visible_BL], 0) : visible_BL,
        attention: { kind: 'bidirectional' },
        context: ctx.context,
      });
      return F.reshape(hidden, [R * g.L, hidden.shape[2]]); // rows batch-major, conditional half first
    });
    const level_N = F.full([R * g.L], info.level, 'int32');
    try {
      const { topK, topP, greedy, smooth, diffusionSteps } = ctx.settings;
      const K = this.options.levels.length;
      const sample = ctx.head.sample({ z: z_ND, level: level_N }, {
        temperature: info.temperature, cfg: info.cfg, guided, topK, topP, greedy, smooth, diffusionSteps, draws: ctx.draws,
        progress: K > 1 ? state.step / (K - 1) : 1,
      });
      if (!sample.values) throw new TesseraError('PLUGIN_INCOMPATIBLE', 'the head returned no continuous values; the frequency direction needs a continuous head such as `diffusion`', { subject: SUBJECT });
      const values = sample.values;
      const out = F.tidy(() => F.reshape(values.shape[0] === B * g.L ? values : F.slice(values, [0, 0], [B * g.L, g.C]), [B, g.L, g.C]));
      F.dispose([values, ...(sample.indices ? [sample.indices] : [])]);
      return out;
    } finally {
      F.dispose([z_ND, level_N]);
    }
  }

  finalTokens(state: FrequencyState, ctx: SamplingContext): Tokens {
    const g = this.grid(ctx.tokenizer);
    const latent = this.F.tidy(() => unpatchify(this.F, state.tokens_BLC, g.channels, this.options.patchSize, g.seqH, g.seqH));
    return { kind: 'continuous', latent };
  }

  dispose(state: FrequencyState): void {
    this.F.dispose(state.tokens_BLC);
  }
}

/** One `numpy.random.shuffle(arange(L))` per image, in batch order. */
export function sampleOrders(draws: DrawSource, B: number, L: number): Int32Array {
  const orders = new Int32Array(B * L);
  for (let b = 0; b < B; b++) orders.set(draws.permutation(L, `order ${b}`), b * L);
  return orders;
}

/** `mask[b, orders[b, :n]] = 1` (1 = masked), [B·L]. */
export function maskByOrder(orders: Int32Array, B: number, L: number, n: number): Uint8Array {
  const mask = new Uint8Array(B * L);
  for (let b = 0; b < B; b++) for (let i = 0; i < n; i++) mask[b * L + orders[b * L + i]] = 1;
  return mask;
}
