/**
 * The `adaln` backbone behind the Backbone contract: VAR's transformer (var-model.ts) or
 * HART's llama variant (hart-model.ts), with teacher-forced `forward` and KV-cached
 * `step` (VAR `autoregressive_infer_cfg`, spec/var.md §7.1–7.2; HART §6 step 3a).
 *
 * `inputs` are the token inputs *after* the start: VAR prepends its `first_l` start
 * tokens (class embedding + `pos_start`), HART its context tokens. HART is conditioned
 * either by class (`conditioning: 'class'`, Tessera's form: one context token
 * `class_emb[label]`) or, as the released text-to-image model, by T precomputed text
 * features per sample (`conditioning: 'context'`, `BackboneInput.context` through
 * `context_embed`; rows labelled with the null class get the official null context,
 * spec/hart.md §6 step 1). `hidden` covers the start positions too, so `hidden[:, i]`
 * predicts the token at input position i, and `cond` is the condition of an
 * AdaLN-before-head.
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import type { AttentionPattern, Backbone, BackboneInput, BackboneOutput, ContextInput, ContextSpec, KvCache } from '../../contracts/backbone';
import { TesseraError } from '../../errors';
import { compileIfSupported, type CompiledFunction } from '../../engine/onnx/trace';
import type { DrawSource } from '../../rng/draws';
import { FixedCapacitySteps } from './fixed-cache';
import { HartTransformer } from './hart-model';
import type { AdalnOptions } from './options';
import { attentionMask, checkLength } from './sequence';
import { flatKv, pairKv, VarTransformer, type BlockKv } from './var-model';

const SUBJECT = 'backbone/adaln';
/** Weights up to this size are embedded (pre-packed) in each step's session; larger models share one fed copy. */
const EMBED_MAX_BYTES = 64 * 2 ** 20;

/**
 * Keys and values of every block for the positions fed so far, and the blocks' AdaLN
 * modulations (they depend on the condition only: computed at the first step, reused by
 * the later ones); kept alive until `dispose`.
 */
export class AdalnKvCache implements KvCache {
  private disposed = false;
  private ada: readonly Tensor[] | undefined;

  constructor(private readonly F: Engine, readonly kv: BlockKv, readonly length: number, ada: readonly Tensor[]) {
    for (const { k_BHLd, v_BHLd } of kv) {
      F.keep(k_BHLd);
      F.keep(v_BHLd);
    }
    ada.forEach((t) => F.keep(t));
    this.ada = ada.length ? ada : undefined;
  }

  /** The modulations, handed to the next cache (this one no longer frees them). */
  takeModulations(): readonly Tensor[] {
    const ada = this.ada ?? [];
    this.ada = undefined;
    return ada;
  }

  get modulations(): readonly Tensor[] | undefined {
    return this.ada;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const { k_BHLd, v_BHLd } of this.kv) this.F.dispose([k_BHLd, v_BHLd]);
    if (this.ada) this.F.dispose([...this.ada]);
  }
}

function validate(o: AdalnOptions): void {
  const fail = (field: string, message: string, value: unknown): never => {
    throw new TesseraError('CONFIG_INVALID', `\`${field}\` = ${JSON.stringify(value)}: ${message}`, { subject: SUBJECT, data: { field, value } });
  };
  if (o.embedDim % o.numHeads !== 0) fail('embedDim', `must be a multiple of \`numHeads\` (${o.numHeads})`, o.embedDim);
  if (o.variant === 'hart') {
    if ((o.embedDim / o.numHeads) % 4 !== 0) fail('numHeads', 'HART\'s 2-D RoPE needs a head width (embedDim / numHeads) divisible by 4', o.numHeads);
    if (o.patchNums[0] !== 1) fail('patchNums', 'HART predicts scale 0 from its one context token, so the first scale must be 1×1', o.patchNums);
    if (o.sharedAdaLN) fail('sharedAdaLN', 'HART has no shared AdaLN; use variant `var`', o.sharedAdaLN);
  } else if (o.conditioning !== 'class') {
    fail('conditioning', 'context (text) conditioning is HART\'s; use variant `hart`', o.conditioning);
  }
}

export class AdalnBackbone implements Backbone {
  readonly id = SUBJECT;
  readonly module: VarTransformer | HartTransformer;
  readonly context?: ContextSpec;
  /** Causal one-token steps against a fixed-capacity cache (VAR variant, compiling engines). */
  private readonly fixed: FixedCapacitySteps | undefined;
  private readonly compiledSteps = new Map<string, CompiledFunction<{ hidden: Tensor; cond: Tensor; kv: Tensor[]; ada: Tensor[] }>>();

  constructor(private readonly F: Engine, readonly options: AdalnOptions) {
    validate(options);
    const common = {
      depth: options.depth,
      embedDim: options.embedDim,
      numHeads: options.numHeads,
      mlpRatio: options.mlpRatio,
      normEps: options.normEps,
      attnL2Norm: options.attnL2Norm,
      patchNums: options.patchNums,
      vocabEmbedDim: options.vocabEmbedDim,
    };
    this.module = options.variant === 'var'
      ? new VarTransformer(F, { ...common, sharedAdaLN: options.sharedAdaLN, classes: options.classes })
      : new HartTransformer(F, {
        ...common,
        contextTokens: options.conditioning === 'context' ? options.contextTokens : 1,
        conditioning: options.conditioning === 'context'
          ? { kind: 'context', contextDim: options.contextDim, contextNorm: options.contextNorm }
          : { kind: 'class', classes: options.classes },
        pooling: options.contextPooling,
        timestepLevelEmbed: options.timestepLevelEmbed,
      });
    this.fixed = this.module instanceof VarTransformer ? new FixedCapacitySteps(F, this.module, this.module.L) : undefined;
    if (options.variant === 'hart' && options.conditioning === 'context') {
      this.context = { tokens: options.contextTokens, dim: options.contextDim, required: true };
    }
  }

  /** Sequence length of a full teacher-forced pass (start tokens included). */
  get sequenceLength(): number {
    return this.module instanceof VarTransformer ? this.module.L : this.module.levels.length;
  }

  /**
   * Class dropout of training (VAR `forward` step 1, quirk 9): each label becomes the null
   * class `classes` where U(0,1) < `condDropRate`. One uniform draw of shape [B].
   */
  dropLabels(labels_B: Tensor, draws: DrawSource): Tensor {
    const [B] = labels_B.shape;
    const u = draws.uniform([B], 'class dropout');
    return this.F.tidy(() => this.F.where(this.F.less(this.F.tensor(u, [B]), this.options.condDropRate), this.options.classes, labels_B));
  }

  /** HART: the residual diffusion condition `decoder_norm(hidden + word_embed(codes))` (spec/hart.md §4.6). */
  residualCondition(hidden_BNC: Tensor, codes_BNCv: Tensor): Tensor {
    if (!(this.module instanceof HartTransformer)) {
      throw new TesseraError('PLUGIN_INCOMPATIBLE', '`backbone/adaln` with variant `var` has no residual condition (`decoder_norm`); use variant `hart` with a residual head', { subject: SUBJECT });
    }
    return this.module.diffusionCondition(hidden_BNC, codes_BNCv);
  }

  forward(input: BackboneInput): BackboneOutput {
    const { output, kv, ada } = this.run(input, 0, undefined, undefined);
    for (const { k_BHLd, v_BHLd } of kv) this.F.dispose([k_BHLd, v_BHLd]);
    this.F.dispose([...ada]);
    return output;
  }

  /**
   * Feeds the next positions (the start tokens on the first call, with empty or absent
   * `inputs`) against the cached keys/values. The cache passed in is consumed: its
   * tensors move into (or are freed for) the returned one.
   */
  step(input: BackboneInput, cache: KvCache | undefined): { output: BackboneOutput; cache: KvCache } {
    if (cache !== undefined && !(cache instanceof AdalnKvCache)) {
      throw new TesseraError('USAGE', 'the KV cache passed to `step` was not made by this backbone', { subject: SUBJECT });
    }
    const start = cache?.length ?? 0;
    if (cache && cache.modulations && this.fixed?.applies(input, start)) {
      checkLength(SUBJECT, start + 1, this.sequenceLength);
      const { output, kv } = this.fixed.run(input, start, cache.kv, cache.modulations);
      const next = new AdalnKvCache(this.F, kv, start + 1, cache.takeModulations());
      cache.dispose();
      return { output, cache: next };
    }
    if (cache && cache.kv.length && cache.kv[0].k_BHLd.shape[2] !== cache.length) {
      throw new TesseraError('USAGE', 'this KV cache has a fixed capacity (causal one-token steps); it takes only one new token per step', { subject: SUBJECT });
    }
    const { output, kv, ada, length } = this.compiledRun(input, start, cache?.kv, cache?.modulations);
    const next = new AdalnKvCache(this.F, kv, length, cache ? cache.takeModulations() : ada);
    cache?.dispose();
    return { output, cache: next };
  }

  /**
   * `run` as one graph per call layout on engines that trace (the onnx engine; eager
   * elsewhere): the KV cache goes in and comes out as graph inputs/outputs (the call that
   * fills the sequence returns none: no step follows), the blocks' modulations come out
   * of the first call and go into the later ones, and weights are fed so the sessions of
   * the growing cache lengths share one copy (small models, up to `EMBED_MAX_BYTES` of
   * weights, embed them within the engine's budget: `weights: 'auto'`). The layout (attention
   * pattern, which optional inputs, first or last call) is what the graph closes over;
   * the input shapes pick the session.
   */
  private compiledRun(input: BackboneInput, start: number, past: BlockKv | undefined, pastAda: readonly Tensor[] | undefined): { output: BackboneOutput; kv: BlockKv; ada: readonly Tensor[]; length: number } {
    if (input.training) return this.run(input, start, past, pastAda);
    const hasInputs = !!input.inputs && input.inputs.shape[1] > 0;
    const hasLevels = !!input.levels;
    const filled: Tensor[] = [];
    const context = input.context ? this.completeContext(input.context, filled) : undefined;
    const length = start + this.newPositions(input, start);
    const last = length === this.sequenceLength;
    const depth = this.options.depth;
    const key = JSON.stringify([input.attention, hasInputs, hasLevels, !!context, !!pastAda, last, past ? past.length : 0, start]);
    let step = this.compiledSteps.get(key);
    if (!step) {
      const attention = input.attention;
      step = compileIfSupported(this.F, (labels: Tensor, ...rest: Tensor[]) => {
        const inputs = hasInputs ? rest.shift() : undefined;
        const levels = hasLevels ? rest.shift() : undefined;
        const ctx = context ? { features: rest.shift() as Tensor, mask: rest.shift() as Tensor, positions: rest.shift() as Tensor } : undefined;
        const ada = pastAda ? rest.splice(0, depth) : undefined;
        const pastKv = rest.length ? pairKv(rest) : undefined;
        // tidy: on eager engines what a graph leaves out (the last call's keys/values) is freed
        return this.F.tidy(() => {
          const r = this.run({ inputs: inputs as Tensor, labels, levels, attention, context: ctx }, start, pastKv, ada);
          return { hidden: r.output.hidden, cond: r.output.cond as Tensor, kv: last ? [] : flatKv(r.kv), ada: pastAda ? [] : [...r.ada] };
        });
      }, { weights: 'auto', embedMaxBytes: EMBED_MAX_BYTES, name: 'adaln_step' });
      this.compiledSteps.set(key, step);
    }
    const args = [
      input.labels,
      ...(hasInputs ? [input.inputs as Tensor] : []),
      ...(hasLevels ? [input.levels as Tensor] : []),
      ...(context ? [context.features, context.mask, context.positions] : []),
      ...(pastAda ?? []),
      ...flatKv(past ?? []),
    ];
    try {
      const out = step(...args);
      return { output: { hidden: out.hidden, cond: out.cond }, kv: pairKv(out.kv), ada: pastAda ?? out.ada, length };
    } finally {
      this.F.dispose(filled);
    }
  }

  /**
   * A context with its defaults filled (mask all real, position ids cumsum(mask) − 1) and
   * checked against `contextTokens` and `contextDim`. The defaults filled are new tensors,
   * also pushed on `filled` for the caller to dispose.
   */
  private completeContext(ctx: ContextInput, filled: Tensor[] = []): Required<ContextInput> {
    const F = this.F;
    const spec = this.context;
    if (!spec) throw new TesseraError('PLUGIN_INCOMPATIBLE', '`backbone/adaln` is class-conditioned here; a context input needs variant `hart` with `conditioning: "context"`', { subject: SUBJECT });
    const [Bc, T, D] = ctx.features.shape;
    if (ctx.features.shape.length !== 3 || T !== spec.tokens || D !== spec.dim) {
      throw new TesseraError('SHAPE_MISMATCH', `context features have shape [${ctx.features.shape.join(', ')}]; this backbone takes [B, ${spec.tokens}, ${spec.dim}] (contextTokens, contextDim)`, { subject: SUBJECT, data: { shape: ctx.features.shape } });
    }
    for (const [name, t] of [['mask', ctx.mask], ['positions', ctx.positions]] as const) {
      if (t && (t.shape.length !== 2 || t.shape[0] !== Bc || t.shape[1] !== T)) {
        throw new TesseraError('SHAPE_MISMATCH', `context ${name} has shape [${t.shape.join(', ')}]; expected [${Bc}, ${T}] like the features`, { subject: SUBJECT, data: { shape: t.shape } });
      }
    }
    const mask = ctx.mask ?? F.ones([Bc, T]);
    const positions = ctx.positions ?? F.tidy(() => F.sub(F.cumsum(F.cast(F.greater(mask, 0), 'int32'), 1), 1));
    filled.push(...(ctx.mask ? [] : [mask]), ...(ctx.positions ? [] : [positions]));
    return { features: ctx.features, mask, positions };
  }

  /** Positions a call adds: the start tokens on the first call, then the inputs. */
  private newPositions(input: BackboneInput, start: number): number {
    const m = this.module;
    return (start === 0 ? 1 : 0) * (m instanceof VarTransformer ? m.firstL : m.T) + (input.inputs?.shape[1] ?? 0);
  }

  private run(input: BackboneInput, start: number, past: BlockKv | undefined, pastAda: readonly Tensor[] | undefined): { output: BackboneOutput; kv: BlockKv; ada: readonly Tensor[]; length: number } {
    const F = this.F;
    const m = this.module;
    const n = this.newPositions(input, start);
    checkLength(SUBJECT, start + n, this.sequenceLength);
    return F.tidy(() => {
      if (m instanceof VarTransformer) {
        const mask = attentionMask(F, input.attention, start, n);
        if (input.positions) {
          throw new TesseraError('PLUGIN_INCOMPATIBLE', '`backbone/adaln` with variant `var` takes whole scales; input `positions` (a masked last scale, HART training) needs variant `hart`', { subject: SUBJECT });
        }
        const cond_BD = m.condition(input.labels);
        const x_BLC = m.embed(cond_BD, input.inputs, start, input.levels);
        const ada = pastAda ?? m.modulations(cond_BD);
        const { hidden_BLC, kv } = m.blocksForward(x_BLC, ada, mask, past);
        return { output: { hidden: hidden_BLC, cond: cond_BD }, kv, ada, length: start + n };
      }
      const { cond_BTC, mask_BT, pos_BT } = this.hartCondition(m, input);
      const B = cond_BTC.shape[0];
      const imageStart = Math.max(0, start - m.T);
      const N = input.inputs?.shape[1] ?? 0;
      const imageIndex_BN = N === 0 ? undefined
        : input.positions ? F.cast(input.positions, 'int32') : F.broadcastTo(F.reshape(F.arange(imageStart, imageStart + N), [1, N]), [B, N]);
      const { hidden_BLC, kv, ada } = m.forward({
        cond_BTC,
        contextMask_BT: mask_BT,
        contextPos_BT: pos_BT,
        withContext: start === 0,
        x_BNCv: input.inputs,
        imageIndex_BN,
        mask: attentionMask(F, hartPattern(input.attention, m.T), start, n),
        past,
        ada: pastAda,
      });
      return { output: { hidden: hidden_BLC, cond: m.headCondition(cond_BTC) }, kv, ada, length: start + n };
    });
  }

  /**
   * HART's context tokens (B, T, C), mask and position ids for the rows of `labels`:
   * `class_emb[label]` (T = 1), or `context_embed` of the context features, repeated to
   * the labels' rows, with the null context on rows of the null class (hart.md §6 step 1:
   * features 0, mask [1, 0, …, 0], position ids 0).
   */
  private hartCondition(m: HartTransformer, input: BackboneInput): { cond_BTC: Tensor; mask_BT?: Tensor; pos_BT: Tensor } {
    const F = this.F;
    const [R] = input.labels.shape;
    if (!this.context) {
      if (input.context) this.completeContext(input.context); // throws: this backbone takes no context
      return { cond_BTC: m.classCondition(input.labels), pos_BT: F.zeros([R, 1], 'int32') };
    }
    if (!input.context) {
      throw new TesseraError('USAGE', `this HART backbone is text-conditioned (\`conditioning: "context"\`): every call needs ${this.context.tokens} context features of width ${this.context.dim} per sample (sampling: \`tessera sample --context <file.safetensors>\`; training on text features is not supported yet)`, { subject: SUBJECT });
    }
    const { features, mask, positions } = this.completeContext(input.context);
    const [Bc, T] = features.shape;
    if (R % Bc !== 0) throw new TesseraError('SHAPE_MISMATCH', `${R} label rows cannot take ${Bc} context rows (the rows must be whole repeats of the context)`, { subject: SUBJECT });
    const repeat = (t: Tensor): Tensor => (R === Bc ? t : F.concat(Array.from({ length: R / Bc }, () => t), 0));
    const isNull_R = F.equal(input.labels, this.options.classes);
    const isNull_R1 = F.reshape(isNull_R, [R, 1]);
    const keep_R11 = F.reshape(F.cast(F.logicalNot(isNull_R), 'float32'), [R, 1, 1]);
    const nullMask_1T = F.tensor(Float32Array.from({ length: T }, (_, j) => (j === 0 ? 1 : 0)), [1, T]);
    const mask_RT = F.where(isNull_R1, nullMask_1T, F.cast(repeat(mask), 'float32'));
    const pos_RT = F.where(isNull_R1, F.zeros([1, T], 'int32'), F.cast(repeat(positions), 'int32'));
    return { cond_BTC: m.contextCondition(F.mul(repeat(features), keep_R11)), mask_BT: mask_RT, pos_BT: pos_RT };
  }
}

/** The direction's block pattern with HART's first block (its T context tokens) in place of scale 0's one token. */
function hartPattern(pattern: AttentionPattern, T: number): AttentionPattern {
  if (pattern.kind !== 'block-causal' || pattern.blockSizes[0] === T) return pattern;
  return { kind: 'block-causal', blockSizes: [T, ...pattern.blockSizes.slice(1)] };
}
