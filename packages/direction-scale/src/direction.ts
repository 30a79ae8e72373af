/**
 * Direction `scale`: next-scale prediction (VAR, arXiv 2404.02905 §3; HART, arXiv
 * 2410.10812 §3.2). Sampling follows the official `autoregressive_infer_cfg` (VAR
 * `models/var.py`, spec var.md §7; HART `hart_transformer_t2i.py`, spec hart.md §6):
 * with a KV cache the backbone sees one scale per step (first its start tokens); the
 * scale's tokens are read from the last pn_k² positions of that step's output; guidance
 * ramps linearly over the scales (s = 1 + (cfg − 1)·k/(K−1), VAR's t = cfg·ratio), top-k /
 * top-p / Gumbel smoothing are the head's; the chosen code map is accumulated by the
 * tokenizer's residual quantizer, which also gives the next scale's input.
 *
 * HART: at the last scale a composed residual head (`head.residual`) samples the
 * continuous residual from `backbone.residualCondition(hidden, codes)`, and the map that
 * is accumulated is codes + residual. Editing (spec var.md §9, edit.ts): kept positions
 * take the edited image's codes. Teacher forcing: teacher-forcing.ts (HART's: hart-training.ts).
 */
import { compileIfSupported, TesseraError } from '@tessera/core';
import type {
  CompiledFunction, Direction, DirectionStep, DrawSource, Engine, HeadSampleOptions, HostTensor, KvCache, SamplerSettings, SamplingContext,
  SamplingState, Tensor, Tokenizer, Tokens, TrainingExample,
} from '@tessera/core';
import { scaleKeepMask, type ScaleEdit } from './edit';
import type { ScaleDirectionOptions } from './options';
import { hartTrainingExample } from './hart-training';
import { mapToRows, ProgressiveStage, requirePyramid, rowsToMap, teacherForcingExample } from './teacher-forcing';

const SUBJECT = 'direction/scale';

/** Receives the intermediates of every scale (parity traces): `fHat`, `codeMap`, `indices`, and the heads' own names. */
export type ScaleObserver = (scale: number, name: string, value: HostTensor) => void;

export interface ScaleState extends SamplingState {
  readonly step: number;
  readonly done: boolean;
  /** Labels, then the null labels when guided: int32 [R]. */
  readonly labels_R: Tensor;
  readonly guided: boolean;
  readonly cache?: KvCache;
  /** Input of the next scale, (B, pn², Cin). */
  readonly next_BlC?: Tensor;
  /** The same stacked for guidance, (2B, pn², Cin), when the compiled step made it. */
  readonly nextRows_RlC?: Tensor;
  /** Accumulated features (B, C, P, P). */
  readonly fHat_BChw: Tensor;
  /** Tokens of the scales done so far (discrete tokenizers), int32 (B, pn²). */
  readonly indices: Tensor[];
  /** HART: the sampled residual of the last scale (B, C, P, P). */
  readonly residual_BChw?: Tensor;
  /** Editing: the image's tokens (caller-owned) and the per-scale keep masks. */
  readonly edit?: { tokens: Tensor[]; keep: Tensor[] };
  readonly observe?: ScaleObserver;
}

export interface ScaleInitOptions {
  edit?: ScaleEdit;
  /** Run conditional and null-condition rows even where the guidance scale is 1 (the official loops always do); default `cfg !== 1`. */
  guided?: boolean;
  observe?: ScaleObserver;
}

/** `map.get(key)`, made by `make` on first use. */
function cached<T, F extends T>(map: Map<string, T>, key: string, make: () => F): F {
  let v = map.get(key) as F | undefined;
  if (!v) {
    v = make();
    map.set(key, v);
  }
  return v;
}

const host = (F: Engine, t: Tensor): HostTensor => {
  const data = F.readSync(t);
  return { dtype: t.dtype === 'int32' ? 'int32' : 'float32', shape: [...t.shape], data: data.slice() as Float32Array | Int32Array };
};

export class ScaleDirection implements Direction<ScaleState> {
  readonly id = SUBJECT;
  private stage: ProgressiveStage | null = null;
  /** Compiled step functions per tokenizer (and the backbone and head they were built with). */
  private readonly compiled = new WeakMap<Tokenizer, { backbone: object; head: object; fns: Map<string, CompiledFunction<Tensor | Tensor[]>> }>();

  constructor(private readonly F: Engine, readonly options: ScaleDirectionOptions) {}

  /** The scale list: the option, else the tokenizer's multi-scale quantizer's. */
  patchNums(tokenizer: Tokenizer): number[] {
    const own = tokenizer.multiScale?.patchNums;
    const pns = this.options.patchNums ?? own;
    if (!pns) throw new TesseraError('CONFIG_INVALID', `direction \`scale\` needs \`patchNums\` with \`${tokenizer.id}\`, which has no scale list of its own`, { subject: SUBJECT, data: { field: 'patchNums' } });
    if (own && pns.join() !== own.join()) {
      throw new TesseraError('CONFIG_INVALID', `\`patchNums\` [${pns.join(', ')}] differs from the tokenizer's scale list [${own.join(', ')}]; leave it out to use the tokenizer's`, { subject: SUBJECT, data: { field: 'patchNums' } });
    }
    const [gh, gw] = tokenizer.space.grid;
    if (pns[pns.length - 1] !== gh || gh !== gw) {
      throw new TesseraError('CONFIG_INVALID', `the last scale (${pns[pns.length - 1]}) must equal the tokenizer's square token grid ${gh}x${gw}`, { subject: SUBJECT, data: { field: 'patchNums' } });
    }
    return pns;
  }

  schedule(tokenizer: Tokenizer): DirectionStep[] {
    return this.patchNums(tokenizer).map((pn, k) => ({ index: k, tokens: pn * pn, label: `scale ${k} (${pn}x${pn})` }));
  }

  /** VAR's progressive training (spec var.md §8.3): train scales 0..`scale` until changed; null = all. */
  setProgressiveStage(stage: ProgressiveStage | null): void {
    if (stage && !(Number.isInteger(stage.scale) && stage.scale >= 0 && stage.weight >= 0 && stage.weight <= 1)) {
      throw new TesseraError('USAGE', `progressive stage needs an integer scale ≥ 0 and a weight in [0, 1], got ${JSON.stringify(stage)}`, { subject: SUBJECT });
    }
    this.stage = stage;
  }

  /**
   * VAR's teacher-forced example; with hybrid tokens (a residual) or `lastScaleMasking`,
   * HART's (hart-training.ts: the residual target, the masked last scale).
   */
  trainingExample(tokens: Tokens, tokenizer: Tokenizer, draws: DrawSource): TrainingExample {
    const pns = this.patchNums(tokenizer);
    const hart = this.options.lastScaleMasking || (tokens.kind === 'discrete' && tokens.residual !== undefined);
    if (hart && this.stage) {
      throw new TesseraError('USAGE', 'progressive training (a VAR stage) cannot combine with HART training (a residual or `lastScaleMasking`), which trains the last scale; clear the stage with `setProgressiveStage(null)`', { subject: SUBJECT });
    }
    const ex = teacherForcingExample(this.F, tokens, tokenizer, pns, this.stage);
    return hart ? hartTrainingExample(this.F, ex, tokens, tokenizer, pns, this.options.lastScaleMasking ? draws : undefined) : ex;
  }

  init(ctx: SamplingContext, options: ScaleInitOptions = {}): ScaleState {
    const F = this.F;
    const pns = this.patchNums(ctx.tokenizer);
    const P = pns[pns.length - 1];
    const B = ctx.labels.shape[0];
    const C = ctx.tokenizer.space.kind === 'discrete' ? ctx.tokenizer.space.embedDim : ctx.tokenizer.space.channels;
    if (ctx.tokenizer.space.kind === 'continuous') requirePyramid(ctx.tokenizer);
    else if (!ctx.tokenizer.multiScale) throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${ctx.tokenizer.id}\` has no multi-scale quantizer; direction \`scale\` needs \`multi-scale\` or \`pyramid\``, { subject: SUBJECT });
    if (!ctx.backbone.step) throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${ctx.backbone.id}\` has no KV-cached \`step\`; direction \`scale\` samples scale by scale with one`, { subject: SUBJECT });
    const guided = options.guided ?? ctx.settings.cfg !== 1;
    let edit: ScaleState['edit'];
    if (options.edit) {
      const { tokens, keep_PP } = options.edit;
      if (tokens.length !== pns.length || keep_PP.length !== P * P) {
        throw new TesseraError('SHAPE_MISMATCH', `editing needs tokens of ${pns.length} scales and a ${P}x${P} mask, got ${tokens.length} scales and ${keep_PP.length} mask values`, { subject: SUBJECT });
      }
      edit = { tokens, keep: pns.map((pn) => scaleKeepMask(F, keep_PP, pn)) };
    }
    return {
      step: 0,
      done: false,
      labels_R: guided ? F.concat([ctx.labels, ctx.nullLabels], 0) : F.reshape(ctx.labels, [B]),
      guided,
      fHat_BChw: F.zeros([B, C, P, P]),
      indices: [],
      edit,
      observe: options.observe,
    };
  }

  /** The step ratio k/(K−1) that guidance and smoothing read; HART's last scale reuses the previous one. */
  ratio(k: number, K: number): number {
    if (K === 1) return 1;
    const at = k === K - 1 && this.options.lastScaleGuidance === 'previous' ? K - 2 : k;
    return at / (K - 1);
  }

  /** Head options of scale k (guidance scale s in the head contract's meaning). */
  headOptions(settings: SamplerSettings, k: number, K: number, vocab: number | undefined, draws: DrawSource, guided: boolean): HeadSampleOptions {
    const ratio = this.ratio(k, K);
    const cfg = settings.cfgSchedule === 'constant' ? settings.cfg : 1 + (settings.cfg - 1) * ratio;
    const topK = this.options.hartTopK && vocab !== undefined ? Math.min(k < 7 ? 600 : 300, vocab) : settings.topK;
    return {
      temperature: settings.temperature, cfg, guided, topK, topP: settings.topP, greedy: settings.greedy, smooth: settings.smooth,
      diffusionSteps: settings.diffusionSteps, progress: ratio, draws,
    };
  }

  step(state: ScaleState, ctx: SamplingContext): ScaleState {
    const F = this.F;
    const pns = this.patchNums(ctx.tokenizer);
    const K = pns.length;
    const k = state.step;
    if (state.done || k >= K) throw new TesseraError('USAGE', `the scale loop is already done (${K} scales)`, { subject: SUBJECT });
    const backbone = ctx.backbone as Required<Pick<typeof ctx.backbone, 'step'>> & typeof ctx.backbone;
    let cache: KvCache | undefined;
    const out = F.tidy(() => {
      const R = state.labels_R.shape[0];
      const Cin = state.fHat_BChw.shape[1];
      const inputs = state.next_BlC ? state.nextRows_RlC ?? (state.guided ? F.concat([state.next_BlC, state.next_BlC], 0) : state.next_BlC) : F.zeros([R, 0, Cin]);
      const blockSizes = pns.map((pn) => pn * pn);
      const r = backbone.step({ inputs, labels: state.labels_R, attention: { kind: 'block-causal', blockSizes }, context: ctx.context }, state.cache);
      cache = r.cache;
      const hidden = r.output.hidden;
      const [, n, D] = hidden.shape;
      const l = pns[k] ** 2;
      const z_RlD = n === l ? hidden : F.slice(hidden, [0, n - l, 0], [R, l, D]); // one scale per step with a KV cache
      return this.advance(state, ctx, k, z_RlD, r.output.cond);
    });
    const done = k + 1 === K;
    if (done) (cache as KvCache).dispose();
    F.dispose([state.fHat_BChw, ...(state.next_BlC ? [state.next_BlC] : []), ...(state.nextRows_RlC ? [state.nextRows_RlC] : [])]);
    return {
      ...state,
      step: k + 1,
      done,
      cache: done ? undefined : cache,
      fHat_BChw: out.fHat_BChw,
      next_BlC: out.next_BlC,
      nextRows_RlC: out.nextRows_RlC,
      indices: out.idx_Bl ? [...state.indices, out.idx_Bl] : state.indices,
      residual_BChw: out.residual_BChw ?? state.residual_BChw,
    };
  }

  /** Samples scale k from its hidden states and accumulates it. */
  private advance(state: ScaleState, ctx: SamplingContext, k: number, z_RlD: Tensor, cond_RD: Tensor | undefined): { fHat_BChw: Tensor; next_BlC?: Tensor; nextRows_RlC?: Tensor; idx_Bl?: Tensor; residual_BChw?: Tensor } {
    const F = this.F;
    const pns = this.patchNums(ctx.tokenizer);
    const K = pns.length;
    const pn = pns[k];
    const [R, l, D] = z_RlD.shape;
    const B = state.guided ? R / 2 : R;
    const observe = state.observe ? (name: string, v: HostTensor): void => (state.observe as ScaleObserver)(k, name, v) : undefined;
    const space = ctx.tokenizer.space;
    const options = { ...this.headOptions(ctx.settings, k, K, space.kind === 'discrete' ? space.vocab : undefined, ctx.draws, state.guided), observe };
    let h_BChw: Tensor;
    let idx_Bl: Tensor | undefined;
    let residual_BChw: Tensor | undefined;
    if (space.kind === 'discrete') {
      const ms = ctx.tokenizer.multiScale as NonNullable<Tokenizer['multiScale']>;
      const sample = ctx.head.sample({ z: z_RlD, cond: cond_RD }, options);
      if (!sample.indices) throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${ctx.head.id}\` returned no token indices; a discrete tokenizer needs a discrete head such as \`categorical\``, { subject: SUBJECT });
      if (!state.edit && !(sample.values && options.smooth)) {
        // The plain step: embedding, the residual's condition and the accumulation as
        // compiled graphs (one session run each on onnx instead of one per op).
        return this.advancePlain(state, ctx, k, z_RlD, sample.indices, options, observe);
      }
      idx_Bl = F.reshape(F.cast(sample.indices, 'int32'), [B, l]);
      let h_BlC = sample.values && options.smooth
        ? F.matmul(F.reshape(sample.values, [B, l, space.vocab]), ms.embed(F.arange(0, space.vocab)))
        : ms.embed(idx_Bl);
      if (state.edit) {
        const keep_1l1 = F.reshape(state.edit.keep[k], [1, l, 1]);
        const gt_Bl = F.cast(state.edit.tokens[k], 'int32');
        h_BlC = F.add(F.mul(ms.embed(gt_Bl), keep_1l1), F.mul(h_BlC, F.sub(1, keep_1l1)));
        idx_Bl = F.where(F.greater(F.reshape(keep_1l1, [1, l]), 0.5), gt_Bl, idx_Bl);
      }
      h_BChw = rowsToMap(F, h_BlC, pn);
      if (k === K - 1 && ctx.head.residual) {
        residual_BChw = this.sampleResidual(ctx, state, z_RlD, ms.embed(state.guided ? F.concat([idx_Bl, idx_Bl], 0) : idx_Bl), options, pn);
        h_BChw = F.add(h_BChw, residual_BChw);
      }
      observe?.('indices', host(F, idx_Bl));
    } else {
      const z_ND = F.reshape(z_RlD, [R * l, D]); // (R, l, D) -> rows, conditional rows first
      const sample = ctx.head.sample({ z: z_ND }, options);
      if (!sample.values) throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${ctx.head.id}\` returned no token values; a continuous tokenizer needs a continuous head such as \`diffusion\``, { subject: SUBJECT });
      h_BChw = rowsToMap(F, F.reshape(sample.values, [B, l, space.channels]), pn);
    }
    observe?.('codeMap', host(F, h_BChw));
    const { fHat_BChw, next_BChw } = this.accumulate(ctx.tokenizer, pns, k, state.fHat_BChw, h_BChw);
    observe?.('fHat', host(F, fHat_BChw));
    return { fHat_BChw, next_BlC: next_BChw ? mapToRows(F, next_BChw) : undefined, idx_Bl, residual_BChw };
  }

  /**
   * `advance` for sampled tokens without editing or smoothing, in two compiled graphs
   * (eager where the engine does not trace): with a residual head, the tokens' embedding
   * and the residual head's condition rows; then, after the residual is drawn, code map
   * (+ residual), f̂'s accumulation and the next scale's input. Same ops as the eager path.
   */
  private advancePlain(state: ScaleState, ctx: SamplingContext, k: number, z_RlD: Tensor, indices: Tensor, options: HeadSampleOptions, observe: ((name: string, v: HostTensor) => void) | undefined): {
    fHat_BChw: Tensor; next_BlC?: Tensor; nextRows_RlC?: Tensor; idx_Bl: Tensor; residual_BChw?: Tensor;
  } {
    const F = this.F;
    const pns = this.patchNums(ctx.tokenizer);
    const K = pns.length;
    const pn = pns[k];
    const l = pn * pn;
    const [R] = z_RlD.shape;
    const B = state.guided ? R / 2 : R;
    const ms = ctx.tokenizer.multiScale as NonNullable<Tokenizer['multiScale']>;
    const fns = this.compiledSteps(ctx);
    const withResidual = k === K - 1 && ctx.head.residual !== undefined;
    let residualRows: Tensor | undefined;
    if (withResidual) {
      const residualHead = ctx.head.residual as NonNullable<typeof ctx.head.residual>;
      const backbone = ctx.backbone;
      if (!backbone.residualCondition) {
        throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${ctx.head.id}\` composes a residual head, but \`${backbone.id}\` gives no residual condition; use backbone \`adaln\` with variant \`hart\``, { subject: SUBJECT });
      }
      const condition = cached(fns, `condition:${state.guided}`, () => compileIfSupported(F, (z: Tensor, idx: Tensor): Tensor => {
        const idx_Bl = F.reshape(F.cast(idx, 'int32'), [-1, z.shape[1]]); // [B·l] -> [B, l]
        const codes_RlC = ms.embed(state.guided ? F.concat([idx_Bl, idx_Bl], 0) : idx_Bl);
        return (backbone.residualCondition as NonNullable<typeof backbone.residualCondition>)(z, codes_RlC);
      }, { weights: 'auto', embedMaxBytes: 64 * 2 ** 20, name: 'scale_residual_condition' }));
      const zr_RlD = condition(z_RlD, indices);
      observe?.('residualCondition', host(F, zr_RlD));
      const residualGuided = state.guided && options.cfg - 1 !== 1;
      const sample = residualHead.sample({ z: F.reshape(zr_RlD, [R * l, zr_RlD.shape[2]]) }, { ...options, temperature: 1, guided: residualGuided });
      if (!sample.values) throw new TesseraError('PLUGIN_INCOMPATIBLE', `the residual head \`${residualHead.id}\` returned no values`, { subject: SUBJECT });
      residualRows = sample.values;
    }
    const guided = state.guided;
    const tail = cached(fns, `tail:${k}:${withResidual}:${guided}`, () => compileIfSupported(F, (idx: Tensor, fHat: Tensor, rows?: Tensor): Tensor[] => {
      const idx_Bl = F.reshape(F.cast(idx, 'int32'), [-1, l]); // [B·l] or [B, l] -> [B, l]
      const b = idx_Bl.shape[0];
      let h_BChw = rowsToMap(F, ms.embed(idx_Bl), pn);
      let residual: Tensor[] = [];
      if (rows) {
        const C = rows.shape[1];
        const res_BChw = rowsToMap(F, F.reshape(F.slice(rows, [0, 0], [b * l, C]), [b, l, C]), pn); // conditional rows first
        h_BChw = F.add(h_BChw, res_BChw);
        residual = [res_BChw];
      }
      const acc = this.accumulate(ctx.tokenizer, pns, k, fHat, h_BChw);
      const next: Tensor[] = [];
      if (acc.next_BChw) {
        const next_BlC = mapToRows(F, acc.next_BChw);
        next.push(next_BlC, ...(guided ? [F.concat([next_BlC, next_BlC], 0)] : [])); // the next step's rows, then stacked for guidance
      }
      return [idx_Bl, h_BChw, acc.fHat_BChw, ...residual, ...next];
    }, { weights: 'auto', embedMaxBytes: 64 * 2 ** 20, name: 'scale_accumulate' }));
    const out = residualRows ? tail(indices, state.fHat_BChw, residualRows) : tail(indices, state.fHat_BChw);
    const [idx_Bl, h_BChw, fHat_BChw] = out;
    const residual_BChw = residualRows ? out[3] : undefined;
    const next_BlC = k + 1 < K ? out[residualRows ? 4 : 3] : undefined;
    const nextRows_RlC = k + 1 < K && guided ? out[residualRows ? 5 : 4] : undefined;
    if (idx_Bl.shape[0] !== B) throw new TesseraError('SHAPE_MISMATCH', `scale ${k}: expected ${B} token rows, got ${idx_Bl.shape[0]}`, { subject: SUBJECT });
    observe?.('indices', host(F, idx_Bl));
    observe?.('codeMap', host(F, h_BChw));
    observe?.('fHat', host(F, fHat_BChw));
    return { fHat_BChw, next_BlC, nextRows_RlC, idx_Bl, residual_BChw };
  }

  /** The compiled step functions of one generator (its tokenizer and backbone), built on first use. */
  private compiledSteps(ctx: SamplingContext): Map<string, CompiledFunction<Tensor | Tensor[]>> {
    let entry = this.compiled.get(ctx.tokenizer);
    if (!entry || entry.backbone !== ctx.backbone || entry.head !== ctx.head) {
      entry = { backbone: ctx.backbone, head: ctx.head, fns: new Map() };
      this.compiled.set(ctx.tokenizer, entry);
    }
    return entry.fns;
  }

  /**
   * HART's last-scale residual: condition rows from the backbone for the chosen codes,
   * sampled by the composed residual head with the scale's guidance; HART guides it
   * whenever its c = s − 1 is not exactly 1 (its sampler's test), keeping the first half.
   */
  private sampleResidual(ctx: SamplingContext, state: ScaleState, z_RlD: Tensor, codes_RlC: Tensor, options: HeadSampleOptions, pn: number): Tensor {
    const F = this.F;
    const residualHead = ctx.head.residual as NonNullable<typeof ctx.head.residual>;
    if (!ctx.backbone.residualCondition) {
      throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${ctx.head.id}\` composes a residual head, but \`${ctx.backbone.id}\` gives no residual condition; use backbone \`adaln\` with variant \`hart\``, { subject: SUBJECT });
    }
    const [R, l] = codes_RlC.shape;
    const B = state.guided ? R / 2 : R;
    const zr_RlD = ctx.backbone.residualCondition(z_RlD, codes_RlC);
    options.observe?.('residualCondition', host(F, zr_RlD));
    const guided = state.guided && options.cfg - 1 !== 1;
    const sample = residualHead.sample({ z: F.reshape(zr_RlD, [R * l, zr_RlD.shape[2]]) }, { ...options, temperature: 1, guided });
    if (!sample.values) throw new TesseraError('PLUGIN_INCOMPATIBLE', `the residual head \`${residualHead.id}\` returned no values`, { subject: SUBJECT });
    const C = sample.values.shape[1];
    const first_BlC = F.reshape(F.slice(sample.values, [0, 0], [B * l, C]), [B, l, C]);
    return rowsToMap(F, first_BlC, pn);
  }

  /** f̂ ← f̂ + (up-sampled, φ-mixed) h; the next scale's input is the down-sampled f̂. */
  private accumulate(tokenizer: Tokenizer, pns: number[], k: number, fHat_BChw: Tensor, h_BChw: Tensor): { fHat_BChw: Tensor; next_BChw?: Tensor } {
    const F = this.F;
    if (tokenizer.multiScale) {
      const { fHat, next } = tokenizer.multiScale.nextInput(k, fHat_BChw, h_BChw);
      return { fHat_BChw: fHat, next_BChw: k + 1 < pns.length ? next : undefined };
    }
    const pyramid = requirePyramid(tokenizer);
    const P = pns[pns.length - 1];
    const fHat = F.add(fHat_BChw, pns[k] === P ? h_BChw : pyramid.up(h_BChw, [P, P]));
    if (k + 1 >= pns.length) return { fHat_BChw: fHat };
    const next = pns[k + 1];
    return { fHat_BChw: fHat, next_BChw: next === P ? F.reshape(fHat, fHat.shape) : pyramid.down(fHat, [next, next]) };
  }

  finalTokens(state: ScaleState, ctx: SamplingContext): Tokens {
    const F = this.F;
    if (!state.done) throw new TesseraError('USAGE', `the scale loop is not finished (step ${state.step})`, { subject: SUBJECT });
    if (ctx.tokenizer.space.kind === 'continuous') return { kind: 'continuous', latent: F.reshape(state.fHat_BChw, state.fHat_BChw.shape) };
    const indices = state.indices.map((t) => F.reshape(t, t.shape));
    // VAR decodes the f̂ its loop accumulated, which keeps Gumbel-smoothed sampling.
    const features = F.reshape(state.fHat_BChw, state.fHat_BChw.shape);
    return state.residual_BChw
      ? { kind: 'discrete', indices, features, residual: F.reshape(state.residual_BChw, state.residual_BChw.shape) }
      : { kind: 'discrete', indices, features };
  }

  /** The accumulated features f̂ (B, C, P, P) of a state, a new tensor (what VAR decodes, smoothing included). */
  features(state: ScaleState): Tensor {
    return this.F.reshape(state.fHat_BChw, state.fHat_BChw.shape);
  }

  dispose(state: ScaleState): void {
    const F = this.F;
    state.cache?.dispose();
    F.dispose([state.labels_R, state.fHat_BChw, ...state.indices, ...(state.next_BlC ? [state.next_BlC] : []), ...(state.nextRows_RlC ? [state.nextRows_RlC] : []), ...(state.residual_BChw ? [state.residual_BChw] : []), ...(state.edit?.keep ?? [])]);
  }
}
