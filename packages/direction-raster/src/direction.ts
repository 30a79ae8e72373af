/**
 * Direction `raster`: next-token prediction in raster order over the finest token map,
 * the classic autoregressive baseline (VQGAN-transformer / LlamaGen style, used as the
 * "AR" row of VAR's Table 1, arXiv 2404.02905). The sequence is a start position (the
 * backbone's class token) followed by tokens 0..N−2 in row-major order; position i
 * predicts token i under a causal mask. Discrete tokens enter as their code vectors
 * (the tokenizer's codebook), continuous tokens as themselves (with a diffusion head,
 * MAR's "causal AR" variant, arXiv 2406.11838 §5.1).
 *
 * Sampling feeds one token per step against the backbone's KV cache; guidance follows
 * the sampler's schedule over the steps (linear: s = 1 + (cfg − 1)·i/(N − 1)). Every
 * position uses level 0 of the backbone's level embedding, so a next-scale backbone
 * serves as a plain causal transformer: its sequence (Σ pn²) must hold N positions and
 * its first scale must be 1×1 (one start token).
 */
import { TesseraError } from '@tessera/core';
import type {
  Direction, DirectionStep, DrawSource, Engine, KvCache, SamplingContext, SamplingState, Tensor, Tokenizer, Tokens, TrainingExample,
} from '@tessera/core';
import type { RasterDirectionOptions } from './options';

const SUBJECT = 'direction/raster';

export interface RasterState extends SamplingState {
  readonly step: number;
  readonly done: boolean;
  /** Labels, then the null labels when guided: int32 [R]. */
  readonly labels_R: Tensor;
  readonly guided: boolean;
  readonly cache?: KvCache;
  /** Input of the next position, (B, 1, Cin). */
  readonly next_B1C?: Tensor;
  /** Tokens so far: int32 (B, 1) each (discrete), or (B, 1, C) rows (continuous). */
  readonly tokens: Tensor[];
}

export class RasterDirection implements Direction<RasterState> {
  readonly id = SUBJECT;

  constructor(private readonly F: Engine, readonly options: RasterDirectionOptions) {}

  /** Side of the (square) finest token grid; discrete tokenizers must give a single token map. */
  private grid(tokenizer: Tokenizer): { side: number; N: number } {
    const [h, w] = tokenizer.space.grid;
    if (h !== w) throw new TesseraError('PLUGIN_INCOMPATIBLE', `direction \`raster\` needs a square token grid, \`${tokenizer.id}\` has ${h}x${w}`, { subject: SUBJECT });
    const scales = tokenizer.multiScale?.patchNums.length ?? 1;
    if (tokenizer.space.kind === 'discrete' && scales !== 1) {
      throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${tokenizer.id}\` makes ${scales} residual token maps; direction \`raster\` predicts one map. Give the tokenizer a single scale (\`patchNums: [${h}]\`), or use direction \`scale\``, { subject: SUBJECT });
    }
    return { side: h, N: h * w };
  }

  private width(tokenizer: Tokenizer): number {
    return tokenizer.space.kind === 'discrete' ? tokenizer.space.embedDim : tokenizer.space.channels;
  }

  /** Code vectors of discrete tokens (B, n) → (B, n, Cv). */
  private embed(tokenizer: Tokenizer, idx_Bn: Tensor): Tensor {
    if (!tokenizer.multiScale) throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${tokenizer.id}\` exposes no codebook (\`multiScale.embed\`) for discrete inputs`, { subject: SUBJECT });
    return tokenizer.multiScale.embed(idx_Bn);
  }

  schedule(tokenizer: Tokenizer): DirectionStep[] {
    const { side, N } = this.grid(tokenizer);
    return Array.from({ length: N }, (_, i) => ({ index: i, tokens: 1, label: `token ${i} (row ${Math.floor(i / side)}, column ${i % side})` }));
  }

  trainingExample(tokens: Tokens, tokenizer: Tokenizer, _draws: DrawSource): TrainingExample {
    const F = this.F;
    const { N } = this.grid(tokenizer);
    return F.tidy(() => {
      const target: TrainingExample['target'] = {};
      let rows_BNC: Tensor;
      if (tokens.kind === 'discrete') {
        const idx_BN = F.cast(tokens.indices[tokens.indices.length - 1], 'int32');
        rows_BNC = this.embed(tokenizer, idx_BN);
        target.indices = F.reshape(idx_BN, [-1]);
      } else {
        const [B, C] = tokens.latent.shape;
        rows_BNC = F.transpose(F.reshape(tokens.latent, [B, C, N]), [0, 2, 1]); // (B, C, h·w) -> (B, N, C)
        target.values = F.reshape(rows_BNC, [B * N, C]);
      }
      const [B, , C] = rows_BNC.shape;
      return {
        inputs: F.slice(rows_BNC, [0, 0, 0], [B, N - 1, C]),
        attention: { kind: 'causal' as const },
        levels: F.zeros([N], 'int32'),
        target,
      };
    });
  }

  init(ctx: SamplingContext, options: { guided?: boolean } = {}): RasterState {
    const F = this.F;
    this.grid(ctx.tokenizer);
    if (!ctx.backbone.step) throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${ctx.backbone.id}\` has no KV-cached \`step\`; direction \`raster\` samples token by token with one`, { subject: SUBJECT });
    const guided = options.guided ?? ctx.settings.cfg !== 1;
    const B = ctx.labels.shape[0];
    return { step: 0, done: false, guided, tokens: [], labels_R: guided ? F.concat([ctx.labels, ctx.nullLabels], 0) : F.reshape(ctx.labels, [B]) };
  }

  step(state: RasterState, ctx: SamplingContext): RasterState {
    const F = this.F;
    const { N } = this.grid(ctx.tokenizer);
    const i = state.step;
    if (state.done || i >= N) throw new TesseraError('USAGE', `the raster loop is already done (${N} tokens)`, { subject: SUBJECT });
    const step = ctx.backbone.step as NonNullable<typeof ctx.backbone.step>;
    const s = ctx.settings;
    const ratio = N === 1 ? 1 : i / (N - 1);
    const cfg = s.cfgSchedule === 'constant' ? s.cfg : 1 + (s.cfg - 1) * ratio;
    const space = ctx.tokenizer.space;
    let cache: KvCache | undefined;
    const out = F.tidy(() => {
      const R = state.labels_R.shape[0];
      const B = state.guided ? R / 2 : R;
      const next = state.next_B1C;
      const inputs = next ? (state.guided ? F.concat([next, next], 0) : next) : F.zeros([R, 0, this.width(ctx.tokenizer)]);
      const r = step.call(ctx.backbone, { inputs, labels: state.labels_R, attention: { kind: 'causal' }, levels: F.zeros([N], 'int32'), context: ctx.context }, state.cache);
      cache = r.cache;
      const [, n, D] = r.output.hidden.shape;
      const z_RD = F.reshape(F.slice(r.output.hidden, [0, n - 1, 0], [R, 1, D]), [R, D]);
      const sample = ctx.head.sample({ z: z_RD, cond: r.output.cond }, {
        temperature: s.temperature, cfg, guided: state.guided, topK: s.topK, topP: s.topP, greedy: s.greedy, smooth: false,
        diffusionSteps: s.diffusionSteps, progress: ratio, draws: ctx.draws,
      });
      if (space.kind === 'discrete') {
        if (!sample.indices) throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${ctx.head.id}\` returned no token indices; discrete tokens need a discrete head such as \`categorical\``, { subject: SUBJECT });
        const idx_B1 = F.reshape(F.cast(sample.indices, 'int32'), [B, 1]);
        return { token: idx_B1, next_B1C: this.embed(ctx.tokenizer, idx_B1) };
      }
      if (!sample.values) throw new TesseraError('PLUGIN_INCOMPATIBLE', `\`${ctx.head.id}\` returned no token values; continuous tokens need a continuous head such as \`diffusion\``, { subject: SUBJECT });
      const row_B1C = F.reshape(sample.values, [B, 1, space.channels]);
      return { token: row_B1C, next_B1C: F.reshape(row_B1C, row_B1C.shape) };
    });
    const done = i + 1 === N;
    if (state.next_B1C) F.dispose(state.next_B1C);
    if (done) {
      (cache as KvCache).dispose();
      F.dispose(out.next_B1C);
    }
    return { ...state, step: i + 1, done, cache: done ? undefined : cache, next_B1C: done ? undefined : out.next_B1C, tokens: [...state.tokens, out.token] };
  }

  finalTokens(state: RasterState, ctx: SamplingContext): Tokens {
    const F = this.F;
    if (!state.done) throw new TesseraError('USAGE', `the raster loop is not finished (step ${state.step})`, { subject: SUBJECT });
    const { side, N } = this.grid(ctx.tokenizer);
    if (ctx.tokenizer.space.kind === 'discrete') return { kind: 'discrete', indices: [F.concat(state.tokens, 1)] };
    return {
      kind: 'continuous',
      latent: F.tidy(() => {
        const rows_BNC = F.concat(state.tokens, 1);
        const [B, , C] = rows_BNC.shape;
        return F.reshape(F.transpose(rows_BNC, [0, 2, 1]), [B, C, side, N / side]); // (B, N, C) -> (B, C, h, w)
      }),
    };
  }

  dispose(state: RasterState): void {
    state.cache?.dispose();
    this.F.dispose([state.labels_R, ...state.tokens, ...(state.next_B1C ? [state.next_B1C] : [])]);
  }
}
