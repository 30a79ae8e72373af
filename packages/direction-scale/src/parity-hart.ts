/**
 * Parity handler `hart.infer` (spec hart.md §6, §9; mit-han-lab/hart
 * `hart_transformer_t2i.py` `autoregressive_infer_cfg`): HART generation end to end
 * through this direction — scales 0..SN−2 as VAR, the last scale with the stale guidance
 * ratio (Q2), HART's hard-coded top-k (Q3), and the residual diffusion composed into the
 * categorical head. The released model is text-conditioned: T context features go
 * through `context_embed`, which the class-conditioned `adaln` backbone does not take, so
 * this file drives core's `HartTransformer` behind a small Backbone adapter that holds
 * the [context; null context] rows. Tokenizer, head and direction are the real plugins.
 */
import { HartTransformer, TesseraError } from '@tessera/core';
import type { Backbone, BackboneInput, BackboneOutput, Engine, KvCache, ParityCase, ParityHandler, Tensor } from '@tessera/core';
import type { ScaleDirection, ScaleState } from './direction';
import { buildGenerator, disposeGenerator, msvqOptions, num, OutputCollector, samplingContext, splitWeights } from './parity-generator';

type Kwargs = Record<string, unknown>;
type BlockKv = { k_BHLd: Tensor; v_BHLd: Tensor }[];

class ContextKvCache implements KvCache {
  constructor(private readonly F: Engine, readonly kv: BlockKv, readonly length: number) {
    for (const { k_BHLd, v_BHLd } of kv) F.keep(k_BHLd), F.keep(v_BHLd);
  }

  dispose(): void {
    for (const { k_BHLd, v_BHLd } of this.kv) this.F.dispose([k_BHLd, v_BHLd]);
  }
}

/** HART with text context behind the Backbone contract: rows are [conditional; null context]. */
class HartContextBackbone implements Backbone {
  readonly id = 'backbone/adaln (HART text context)';

  constructor(
    private readonly F: Engine,
    readonly module: HartTransformer,
    private readonly context: { cond_RTC: Tensor; mask_RT: Tensor; pos_RT: Tensor },
  ) {}

  forward(): BackboneOutput {
    throw new TesseraError('USAGE', 'the HART context adapter only samples', { subject: this.id });
  }

  step(input: BackboneInput, cache: KvCache | undefined): { output: BackboneOutput; cache: KvCache } {
    const F = this.F;
    const m = this.module;
    const start = cache?.length ?? 0;
    const { cond_RTC, mask_RT, pos_RT } = this.context;
    const [R] = cond_RTC.shape;
    const N = input.inputs.shape[1];
    const imageStart = Math.max(0, start - m.T);
    const { hidden_BLC, kv } = m.forward({
      cond_BTC: cond_RTC,
      contextMask_BT: mask_RT,
      contextPos_BT: pos_RT,
      withContext: start === 0,
      x_BNCv: N > 0 ? input.inputs : undefined,
      imageIndex_BN: N > 0 ? F.broadcastTo(F.reshape(F.arange(imageStart, imageStart + N), [1, N]), [R, N]) : undefined,
      past: (cache as ContextKvCache | undefined)?.kv,
    });
    const next = new ContextKvCache(F, kv, start + (start === 0 ? m.T : 0) + N);
    cache?.dispose();
    return { output: { hidden: hidden_BLC, cond: m.headCondition(cond_RTC) }, cache: next };
  }

  residualCondition(hidden_BNC: Tensor, codes_BNCv: Tensor): Tensor {
    return this.module.diffusionCondition(hidden_BNC, codes_BNCv);
  }
}

function hartTransformer(c: ParityCase, F: Engine): HartTransformer {
  const t = c.config<Kwargs>('t2i_config');
  for (const key of ['attn_type', 'mlp_type']) {
    if (t[key] !== 'llama') throw new TesseraError('PARITY_UNSUPPORTED', `\`${c.file}\`: \`${key}\` = ${String(t[key])}; only HART's llama variant is implemented`, { subject: c.file });
  }
  return new HartTransformer(F, {
    depth: num(t, 'depth'),
    embedDim: num(t, 'embed_dim'),
    numHeads: num(t, 'num_heads'),
    mlpRatio: num(t, 'mlp_ratio'),
    normEps: num(t, 'norm_eps'),
    attnL2Norm: Boolean(t.attn_l2_norm),
    patchNums: t.patch_nums as number[],
    vocabEmbedDim: c.config<number>('tokenizer_config.z_channels'),
    contextTokens: num(t, 'context_token'),
    conditioning: { kind: 'context', contextDim: num(t, 'context_dim'), contextNorm: Boolean(t.use_context_norm) },
    pooling: t.sep_aln_pooling_mode as 'avg' | 'max',
    timestepLevelEmbed: Boolean(t.use_timestep_embed),
  });
}

/** The CFG batch's context (hart.md §6 step 1): [context; 0], ids [ids; 0], mask [mask; 0] with mask[B:, 0] = 1. */
function cfgContext(c: ParityCase, F: Engine, model: HartTransformer): { cond_RTC: Tensor; mask_RT: Tensor; pos_RT: Tensor } {
  return F.tidy(() => {
    const ctx_BTD = F.fromHost(c.input('context'));
    const [B, T] = ctx_BTD.shape;
    const mask_BT = F.cast(F.fromHost(c.input('context_mask')), 'float32');
    const nullMask = new Float32Array(B * T);
    for (let b = 0; b < B; b++) nullMask[b * T] = 1;
    return {
      cond_RTC: model.contextCondition(F.concat([ctx_BTD, F.zeros(ctx_BTD.shape)], 0)),
      mask_RT: F.concat([mask_BT, F.tensor(nullMask, [B, T])], 0),
      pos_RT: F.concat([F.cast(F.fromHost(c.input('context_position_ids')), 'int32'), F.zeros([B, T], 'int32')], 0),
    };
  });
}

export const hartInferHandler: ParityHandler = {
  kind: 'hart.infer',
  async run(c, F) {
    const t = c.config<Kwargs>('t2i_config');
    const tok = c.config<Kwargs>('tokenizer_config');
    const call = c.config<Kwargs>('call');
    if (num(call, 'num_maskgit_iters', 1) !== 1 || num(call, 'final_stage', 0) !== 0) {
      throw new TesseraError('PARITY_UNSUPPORTED', `\`${c.file}\`: only one MaskGIT iteration with the residual stage is implemented`, { subject: c.file });
    }
    const embedDim = num(t, 'embed_dim');
    const draws = c.draws();
    const g = buildGenerator(c, F, {
      tokenizer: { use: 'msvq', options: msvqOptions(tok, true) },
      direction: { use: 'scale', options: { lastScaleGuidance: 'previous', hartTopK: true } },
      head: {
        use: 'categorical',
        options: {
          width: embedDim, vocab: num(tok, 'vocab_size'), norm: 'rms', normEps: num(t, 'norm_eps'),
          residual: {
            use: 'diffusion',
            options: {
              mode: 'residual', tokenDim: num(tok, 'z_channels'), zChannels: embedDim, width: num(t, 'diff_width'), depth: num(t, 'diff_depth'),
              numSamplingSteps: String(t.num_sampling_steps), batchMultiplier: num(t, 'diffusion_batch_mul'),
            },
          },
        },
      },
      backbone: { use: 'adaln', options: { variant: 'hart', depth: num(t, 'depth'), embedDim, numHeads: num(t, 'num_heads'), patchNums: t.patch_nums, vocabEmbedDim: num(tok, 'z_channels') } },
    }, draws);
    const model = hartTransformer(c, F);
    const out = new OutputCollector(c);
    let context: ReturnType<typeof cfgContext> | undefined;
    try {
      const [head, rest] = splitWeights(c.params(), ['head_nm.', 'head.', 'diffloss.', 'vae.']);
      model.loadStateDict(rest, { source: c.file });
      g.head.module.loadStateDict(splitWeights(head, ['vae.'])[1], { source: c.file });
      g.tokenizer.module.loadStateDict(c.params('vae.'), { strict: false, source: c.file });
      context = cfgContext(c, F, model);
      const B = c.input('context').shape[0];
      const cfg = num(call, 'cfg');
      const ctx = {
        ...samplingContext(F, g, draws, { cfg: 1 + cfg, cfgSchedule: 'linear', temperature: 1, topK: null, topP: num(call, 'top_p', 0) > 0 ? num(call, 'top_p') : null, greedy: true, smooth: Boolean(call.more_smooth) }, new Int32Array(B), 0),
        backbone: new HartContextBackbone(F, model, context),
      };
      const SN = (t.patch_nums as number[]).length;
      const direction = g.direction as ScaleDirection;
      let state: ScaleState = direction.init(ctx, {
        guided: true,
        observe: (k, name, v) => {
          if (name === 'guidedLogits') out.put(`logits_cfg.${k}`, v);
          else if (name === 'indices') out.put(`idx.${k}`, v);
          else if (name === 'codeMap' && k < SN - 1) out.put(`h.${k}`, v);
          else if (name === 'residualCondition') out.put('diff_cond', { ...v, shape: [v.shape[0] * v.shape[1], v.shape[2]] });
          else if (name === 'samples') out.put('diff_sample', v);
        },
      });
      try {
        while (!state.done) state = direction.step(state, ctx);
        if (draws.remaining !== 0) throw new TesseraError('DRAW_MISMATCH', `\`${c.file}\`: ${draws.remaining} recorded draws were not consumed`, { subject: c.file });
        const fHat = direction.features(state);
        await out.putTensor(F, 'img', F.tidy(() => F.mul(F.add(g.tokenizer.multiScale!.decodeFeatures(fHat), 1), 0.5)));
        await out.putTensor(F, 'fhat_final', fHat);
      } finally {
        direction.dispose(state);
        F.dispose([ctx.labels, ctx.nullLabels]);
      }
      // HART's last-scale guidance keeps the previous scale's ratio (Q2).
      out.put('cfg_last_stage', { dtype: 'float32', shape: [], data: Float32Array.of((cfg * (SN - 2)) / (SN - 1)) });
    } finally {
      if (context) F.dispose([context.cond_RTC, context.mask_RT, context.pos_RT]);
      model.dispose();
      disposeGenerator(g);
    }
    return out.out;
  },
};
