/**
 * Parity handler `hart.infer` (spec hart.md §6, §9; mit-han-lab/hart
 * `hart_transformer_t2i.py` `autoregressive_infer_cfg`): HART generation end to end
 * through the real plugins and core's `adaln` backbone in its text-conditioned form
 * (`conditioning: "context"`): the case's context features, mask and position ids go in
 * as the sampling context, the backbone gives the guided rows the null context, and the
 * direction runs scales 0..SN−2 as VAR, the last scale with the stale guidance ratio
 * (Q2), HART's hard-coded top-k (Q3), and the residual diffusion composed into the
 * categorical head.
 */
import { loadTransformerWeights, nullClassOf, TesseraError } from '@tessera/core';
import type { Engine, ParityCase, ParityHandler } from '@tessera/core';
import type { ScaleDirection, ScaleState } from './direction';
import { buildGenerator, disposeGenerator, msvqOptions, num, OutputCollector, samplingContext, splitWeights } from './parity-generator';

type Kwargs = Record<string, unknown>;

/** `HARTForT2IConfig` kwargs (llama variant) → `adaln` backbone options. */
function hartBackboneOptions(c: ParityCase): Kwargs {
  const t = c.config<Kwargs>('t2i_config');
  for (const key of ['attn_type', 'mlp_type']) {
    if (t[key] !== 'llama') throw new TesseraError('PARITY_UNSUPPORTED', `\`${c.file}\`: \`${key}\` = ${String(t[key])}; only HART's llama variant is implemented`, { subject: c.file });
  }
  return {
    variant: 'hart',
    depth: num(t, 'depth'),
    embedDim: num(t, 'embed_dim'),
    numHeads: num(t, 'num_heads'),
    mlpRatio: num(t, 'mlp_ratio'),
    normEps: num(t, 'norm_eps'),
    attnL2Norm: Boolean(t.attn_l2_norm),
    patchNums: t.patch_nums,
    vocabEmbedDim: c.config<number>('tokenizer_config.z_channels'),
    conditioning: 'context',
    contextTokens: num(t, 'context_token'),
    contextDim: num(t, 'context_dim'),
    contextNorm: Boolean(t.use_context_norm),
    contextPooling: t.sep_aln_pooling_mode,
    timestepLevelEmbed: Boolean(t.use_timestep_embed),
  };
}

/** The case's context rows as engine tensors: features, mask (float 0/1), position ids. */
function caseContext(c: ParityCase, F: Engine) {
  return {
    features: F.fromHost(c.input('context')),
    mask: F.tidy(() => F.cast(F.fromHost(c.input('context_mask')), 'float32')),
    positions: F.tidy(() => F.cast(F.fromHost(c.input('context_position_ids')), 'int32')),
  };
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
      backbone: { use: 'adaln', options: hartBackboneOptions(c) },
    }, draws);
    const out = new OutputCollector(c);
    const context = caseContext(c, F);
    try {
      const [, transformer] = splitWeights(c.params(), ['vae.']);
      loadTransformerWeights(g, transformer, c.file);
      g.tokenizer.module.loadStateDict(c.params('vae.'), { strict: false, source: c.file });
      const B = c.input('context').shape[0];
      const cfg = num(call, 'cfg');
      const ctx = {
        ...samplingContext(F, g, draws, { cfg: 1 + cfg, cfgSchedule: 'linear', temperature: 1, topK: null, topP: num(call, 'top_p', 0) > 0 ? num(call, 'top_p') : null, greedy: true, smooth: Boolean(call.more_smooth) }, new Int32Array(B), nullClassOf(g.backbone) as number),
        context,
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
      F.dispose([context.features, context.mask, context.positions]);
      disposeGenerator(g);
    }
    return out.out;
  },
};
