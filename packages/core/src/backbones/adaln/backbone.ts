/**
 * The `adaln` backbone behind the Backbone contract: VAR's transformer (var-model.ts) or
 * HART's llama variant (hart-model.ts), with teacher-forced `forward` and KV-cached
 * `step` (VAR `autoregressive_infer_cfg`, spec/var.md §7.1–7.2; HART §6 step 3a).
 *
 * `inputs` are the token inputs *after* the start: VAR prepends its `first_l` start
 * tokens (class embedding + `pos_start`), HART its context token(s). In Tessera HART is
 * class-conditioned: one context token `class_emb[label]` at position 0 (the released
 * text-conditioned form, `context_embed` of T text features, is what the parity handler
 * drives through `HartTransformer` directly). `hidden` covers the start positions too,
 * so `hidden[:, i]` predicts the token at input position i, and `cond` is the condition
 * of an AdaLN-before-head.
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import type { Backbone, BackboneInput, BackboneOutput, KvCache } from '../../contracts/backbone';
import { TesseraError } from '../../errors';
import { compileIfSupported, type CompiledFunction } from '../../engine/onnx/trace';
import type { DrawSource } from '../../rng/draws';
import { HartTransformer } from './hart-model';
import type { AdalnOptions } from './options';
import { attentionMask, checkLength } from './sequence';
import { VarTransformer, type BlockKv } from './var-model';

const SUBJECT = 'backbone/adaln';

/** Keys and values of every block for the positions fed so far; kept alive until `dispose`. */
export class AdalnKvCache implements KvCache {
  private disposed = false;

  constructor(private readonly F: Engine, readonly kv: BlockKv, readonly length: number) {
    for (const { k_BHLd, v_BHLd } of kv) {
      F.keep(k_BHLd);
      F.keep(v_BHLd);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const { k_BHLd, v_BHLd } of this.kv) this.F.dispose([k_BHLd, v_BHLd]);
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
  }
}

export class AdalnBackbone implements Backbone {
  readonly id = SUBJECT;
  readonly module: VarTransformer | HartTransformer;
  private readonly compiledSteps = new Map<string, CompiledFunction<{ hidden: Tensor; cond: Tensor; kv: Tensor[] }>>();

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
        contextTokens: 1,
        conditioning: { kind: 'class', classes: options.classes },
        pooling: options.contextPooling,
        timestepLevelEmbed: options.timestepLevelEmbed,
      });
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
    const { output, kv } = this.run(input, 0, undefined);
    for (const { k_BHLd, v_BHLd } of kv) this.F.dispose([k_BHLd, v_BHLd]);
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
    const { output, kv, length } = this.compiledRun(input, cache?.length ?? 0, cache?.kv);
    const next = new AdalnKvCache(this.F, kv, length);
    cache?.dispose();
    return { output, cache: next };
  }

  /**
   * `run` as one graph per call layout on engines that trace (the onnx engine; eager
   * elsewhere): the KV cache goes in and comes out as graph inputs/outputs, weights are
   * fed (`weights: 'feed'`) so the sessions of the growing cache lengths share one copy.
   * The layout (attention pattern, which optional inputs, first call) is what the graph
   * closes over; the input shapes pick the session.
   */
  private compiledRun(input: BackboneInput, start: number, past: BlockKv | undefined): { output: BackboneOutput; kv: BlockKv; length: number } {
    if (input.training) return this.run(input, start, past);
    const hasInputs = !!input.inputs && input.inputs.shape[1] > 0;
    const hasLevels = !!input.levels;
    const key = JSON.stringify([input.attention, hasInputs, hasLevels, past ? past.length : 0, start]);
    let step = this.compiledSteps.get(key);
    if (!step) {
      const attention = input.attention;
      step = compileIfSupported(this.F, (labels: Tensor, ...rest: Tensor[]) => {
        const inputs = hasInputs ? rest.shift() : undefined;
        const levels = hasLevels ? rest.shift() : undefined;
        const pastKv: BlockKv | undefined = rest.length ? Array.from({ length: rest.length / 2 }, (_, i) => ({ k_BHLd: rest[2 * i], v_BHLd: rest[2 * i + 1] })) : undefined;
        const { output, kv } = this.run({ inputs: inputs as Tensor, labels, levels, attention }, start, pastKv);
        return { hidden: output.hidden, cond: output.cond as Tensor, kv: kv.flatMap((b) => [b.k_BHLd, b.v_BHLd]) };
      }, { weights: 'feed', name: 'adaln_step' });
      this.compiledSteps.set(key, step);
    }
    const args = [input.labels, ...(hasInputs ? [input.inputs as Tensor] : []), ...(hasLevels ? [input.levels as Tensor] : []), ...(past ?? []).flatMap((b) => [b.k_BHLd, b.v_BHLd])];
    const out = step(...args);
    const kv: BlockKv = [];
    for (let i = 0; i < out.kv.length; i += 2) kv.push({ k_BHLd: out.kv[i], v_BHLd: out.kv[i + 1] });
    return { output: { hidden: out.hidden, cond: out.cond }, kv, length: start + this.newPositions(input, start) };
  }

  /** Positions a call adds: the start tokens on the first call, then the inputs. */
  private newPositions(input: BackboneInput, start: number): number {
    const m = this.module;
    return (start === 0 ? 1 : 0) * (m instanceof VarTransformer ? m.firstL : m.T) + (input.inputs?.shape[1] ?? 0);
  }

  private run(input: BackboneInput, start: number, past: BlockKv | undefined): { output: BackboneOutput; kv: BlockKv; length: number } {
    const F = this.F;
    const m = this.module;
    const n = this.newPositions(input, start);
    checkLength(SUBJECT, start + n, this.sequenceLength);
    return F.tidy(() => {
      const mask = attentionMask(F, input.attention, start, n);
      if (m instanceof VarTransformer) {
        if (input.positions) {
          throw new TesseraError('PLUGIN_INCOMPATIBLE', '`backbone/adaln` with variant `var` takes whole scales; input `positions` (a masked last scale, HART training) needs variant `hart`', { subject: SUBJECT });
        }
        const cond_BD = m.condition(input.labels);
        const x_BLC = m.embed(cond_BD, input.inputs, start, input.levels);
        const { hidden_BLC, kv } = m.blocksForward(x_BLC, m.blockCondition(cond_BD), mask, past);
        return { output: { hidden: hidden_BLC, cond: cond_BD }, kv, length: start + n };
      }
      const cond_BTC = m.classCondition(input.labels);
      const B = cond_BTC.shape[0];
      const imageStart = Math.max(0, start - m.T);
      const N = input.inputs?.shape[1] ?? 0;
      const imageIndex_BN = N === 0 ? undefined
        : input.positions ? F.cast(input.positions, 'int32') : F.broadcastTo(F.reshape(F.arange(imageStart, imageStart + N), [1, N]), [B, N]);
      const { hidden_BLC, kv } = m.forward({
        cond_BTC,
        contextPos_BT: F.zeros([B, m.T], 'int32'),
        withContext: start === 0,
        x_BNCv: input.inputs,
        imageIndex_BN,
        mask,
        past,
      });
      return { output: { hidden: hidden_BLC, cond: m.headCondition(cond_BTC) }, kv, length: start + n };
    });
  }
}
