/**
 * The masked ("next set of tokens, random order") direction of MAR (paper §3.3 and
 * §5.1, "Masked autoregressive models"; spec/mar.md §4.6 and §6; LTH14/mar
 * `models/mar.py`: `sample_orders`, `random_masking`, `mask_by_order`, `sample_tokens`).
 * With a categorical head over a single-scale discrete tokenizer it is MaskGIT.
 *
 * Training: one random order per image and one truncated-normal mask ratio r on
 * [maskRatioMin, 1] per batch; the first ceil(L·r) positions of each order are masked
 * (hidden from the encoder) and the loss is the mean over the masked positions.
 *
 * Sampling: every position starts masked; at iteration s of T the cosine schedule keeps
 * `floor(L·cos(π/2·(s+1)/T))` masked (clamped: at least one new token, at least one left
 * until the last iteration), the positions leaving the mask are predicted by the head
 * from the backbone's output there, with the guidance scale of the iteration
 * (./schedule.ts) and a constant temperature, and written into the tokens. Generated
 * tokens are never resampled. Draw order: B permutations, then per iteration the head's.
 */
import {
  Direction, DirectionStep, DrawSource, Engine, HeadSample, SamplingContext, SamplingState, Tensor,
  Tokenizer, Tokens, TrainingExample,
} from '@tessera/core';
import type { MaskedDirectionOptions } from './options';
import { iterationCfg, iterationPlan, maskByOrder, maskedCount, nextMaskLength, positionsToPredict } from './schedule';
import { TokenBuffer, TokenSequence, tokenSequence } from './tokens';

/** What one iteration decided (for progress displays and parity traces). */
export interface MaskedIteration {
  /** Tokens still masked after the iteration. */
  maskLen: number;
  /** The mask after the iteration, [B·L] (1 = masked). */
  maskNext: Uint8Array;
  /** Guidance scale and temperature the head sampled with. */
  cfg: number;
  temperature: number;
  /** Tokens predicted per image. */
  predicted: number;
}

export interface MaskedState extends SamplingState {
  readonly B: number;
  /** One order per image, [B·L]. */
  readonly orders: Int32Array;
  /** 1 = still masked, [B·L]. */
  readonly mask: Uint8Array;
  readonly tokens: TokenBuffer;
  readonly sequence: TokenSequence;
  readonly last?: MaskedIteration;
}

export class MaskedDirection implements Direction<MaskedState> {
  readonly id = 'direction/masked';

  constructor(private readonly F: Engine, readonly options: MaskedDirectionOptions) {}

  schedule(tokenizer: Tokenizer): DirectionStep[] {
    const { L } = tokenSequence(this.F, tokenizer, this.options.patchSize);
    const T = this.options.numIterations;
    return iterationPlan(L, T).map((p, index) => ({ index, tokens: p.predicted, label: `iteration ${index + 1}/${T} (${L - p.maskLen}/${L} known)` }));
  }

  /** One order per image, then one ratio per batch (spec/mar.md §4.6 steps 3-4). */
  randomMask(draws: DrawSource, B: number, L: number): { orders: Int32Array; mask: Uint8Array } {
    const orders = sampleOrders(draws, B, L);
    const rate = draws.truncatedNormal([1], 1, 0.25, this.options.maskRatioMin, 1, 'mask ratio')[0];
    return { orders, mask: maskByOrder(orders, B, L, Math.ceil(L * rate)) };
  }

  trainingExample(tokens: Tokens, tokenizer: Tokenizer, draws: DrawSource): TrainingExample {
    const F = this.F;
    const seq = tokenSequence(F, tokenizer, this.options.patchSize);
    const { inputs_BLC, target } = seq.training(tokens);
    const B = inputs_BLC.shape[0];
    const { mask } = this.randomMask(draws, B, seq.L);
    return {
      inputs: inputs_BLC,
      attention: { kind: 'bidirectional' },
      visible: F.tensor(Float32Array.from(mask, (m) => 1 - m), [B, seq.L]),
      target,
      weights: F.tensor(Float32Array.from(mask), [B * seq.L]),
    };
  }

  init(ctx: SamplingContext): MaskedState {
    const seq = tokenSequence(this.F, ctx.tokenizer, this.options.patchSize);
    const B = ctx.labels.shape[0];
    const orders = sampleOrders(ctx.draws, B, seq.L);
    return { step: 0, done: false, B, orders, mask: new Uint8Array(B * seq.L).fill(1), tokens: seq.empty(B), sequence: seq };
  }

  step(state: MaskedState, ctx: SamplingContext): MaskedState {
    const { B, sequence: seq, mask, orders } = state;
    const L = seq.L, T = this.options.numIterations, s = state.step;
    const { cfg, cfgSchedule, temperature } = ctx.settings;
    const maskLen = nextMaskLength(L, s, T, maskedCount(mask, L));
    const maskNext = maskByOrder(orders, B, L, maskLen);
    const positions = positionsToPredict(mask, maskNext, s >= T - 1);
    const cfgStep = cfg === 1 ? 1 : iterationCfg(cfg, cfgSchedule, L, maskLen);
    let tokens = state.tokens;
    if (positions.length > 0) {
      const sample = this.predict(state, ctx, positions, cfgStep);
      try {
        tokens = seq.write(state.tokens, positions, sample);
      } finally {
        this.F.dispose([sample.values, sample.indices].filter((t): t is Tensor => !!t));
      }
    }
    const last: MaskedIteration = { maskLen, maskNext, cfg: cfgStep, temperature, predicted: positions.length / B };
    return { ...state, step: s + 1, done: s + 1 >= T, mask: maskNext, tokens, last };
  }

  /** Backbone over the known tokens, then the head at `positions` (conditional rows, then null-class rows under guidance). */
  private predict(state: MaskedState, ctx: SamplingContext, positions: Int32Array, cfgStep: number): HeadSample {
    const F = this.F;
    const { B, sequence: seq, mask } = state;
    const L = seq.L;
    const guided = ctx.settings.cfg !== 1;
    const z_ND = F.tidy(() => {
      const x_BLC = seq.features(state.tokens);
      const visible_BL = F.tensor(Float32Array.from(mask, (m) => 1 - m), [B, L]);
      const inputs = guided ? F.concat([x_BLC, x_BLC], 0) : x_BLC;
      const visible = guided ? F.concat([visible_BL, visible_BL], 0) : visible_BL;
      const labels = guided ? F.concat([ctx.labels, ctx.nullLabels], 0) : ctx.labels;
      const { hidden } = ctx.backbone.forward({ inputs, labels, visible, attention: { kind: 'bidirectional' }, context: ctx.context });
      const [R, , D] = hidden.shape;
      const rows = guided ? Int32Array.from([...positions, ...positions.map((p) => p + B * L)]) : positions;
      return F.gather(F.reshape(hidden, [R * L, D]), F.tensor(rows, [rows.length], 'int32'), 0); // [n or 2n, D]
    });
    try {
      const { temperature, topK, topP, greedy, smooth, diffusionSteps } = ctx.settings;
      const T = this.options.numIterations;
      return ctx.head.sample({ z: z_ND }, {
        temperature, cfg: cfgStep, guided, topK, topP, greedy, smooth, diffusionSteps, draws: ctx.draws,
        progress: T > 1 ? state.step / (T - 1) : 1,
      });
    } finally {
      F.dispose(z_ND);
    }
  }

  finalTokens(state: MaskedState): Tokens {
    return state.sequence.final(state.tokens);
  }

  dispose(state: MaskedState): void {
    state.sequence.dispose(state.tokens);
  }
}

/** One `numpy.random.shuffle(arange(L))` per image, in batch order. */
export function sampleOrders(draws: DrawSource, B: number, L: number): Int32Array {
  const orders = new Int32Array(B * L);
  for (let b = 0; b < B; b++) orders.set(draws.permutation(L, `order ${b}`), b * L);
  return orders;
}
