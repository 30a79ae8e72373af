/**
 * Parity handlers of VAR's generation family (spec var.md §12.2): `var.infer`
 * (`autoregressive_infer_cfg`, §7), `var.edit.masked_infer` (the zero-shot editing
 * notebook, §9) and `var.train.loss` (`VARTrainer.train_step`'s loss, §8.2–8.3, with
 * progressive training). Each builds the generator msvq + scale + categorical + adaln
 * from the manifest through a PluginHost and drives this direction; per-scale traces
 * come from the direction's and the head's observers.
 */
import { TesseraError, toInt32 } from '@tessera/core';
import type { Engine, Generator, HeadInput, ParityCase, ParityHandler, ParityOutputs, SamplerSettings, Tensor } from '@tessera/core';
import type { ScaleDirection, ScaleState } from './direction';
import { editMask, scaleKeepMask } from './edit';
import {
  buildGenerator, disposeGenerator, loadPresent, msvqOptions, num, OutputCollector, samplingContext, splitWeights,
} from './parity-generator';

type Kwargs = Record<string, unknown>;

const HEAD_KEYS = ['head_nm.', 'head.'];

/** msvq + scale + categorical (+ label smoothing) + adaln (variant var) from a VAR manifest, weights loaded. */
function varGenerator(c: ParityCase, F: Engine, labelSmoothing = 0): Generator {
  const vae = c.config<Kwargs>('vae');
  const v = c.config<Kwargs>('var');
  const draws = c.draws();
  const g = buildGenerator(c, F, {
    tokenizer: { use: 'msvq', options: msvqOptions(vae, false) },
    direction: { use: 'scale', options: {} },
    head: { use: 'categorical', options: { width: num(v, 'embed_dim'), vocab: num(v, 'vae_vocab_size'), normEps: num(v, 'norm_eps'), labelSmoothing } },
    backbone: {
      use: 'adaln',
      options: {
        variant: 'var',
        depth: num(v, 'depth'),
        embedDim: num(v, 'embed_dim'),
        numHeads: num(v, 'num_heads'),
        mlpRatio: num(v, 'mlp_ratio'),
        normEps: num(v, 'norm_eps'),
        sharedAdaLN: Boolean(v.shared_aln),
        attnL2Norm: Boolean(v.attn_l2_norm),
        classes: num(v, 'num_classes'),
        condDropRate: num(v, 'cond_drop_rate'),
        patchNums: v.patch_nums,
        vocabEmbedDim: num(v, 'vae_Cvae'),
      },
    },
  }, draws);
  const [head, backbone] = splitWeights(c.params('var.'), HEAD_KEYS);
  loadPresent(g.tokenizer.module, c.params('vae.'), c.file);
  g.backbone.module.loadStateDict(backbone, { source: c.file });
  g.head.module.loadStateDict(head, { source: c.file });
  return g;
}

/** Labels of an infer call: the `in.label_B` tensor, or one int for every row (negative = null class). */
function callLabels(c: ParityCase, B: number, nullClass: number): Int32Array {
  const spec = c.config<unknown>('call.label_B');
  if (typeof spec === 'number') return new Int32Array(B).fill(spec < 0 ? nullClass : spec);
  return toInt32(c.input('label_B'));
}

/** VAR's call arguments as sampler settings: cfg c is the guidance scale 1 + c; top_k / top_p 0 mean off. */
function varSettings(call: Kwargs): SamplerSettings {
  const topK = num(call, 'top_k', 0);
  const topP = num(call, 'top_p', 0);
  return {
    cfg: 1 + num(call, 'cfg'),
    cfgSchedule: 'linear',
    temperature: 1,
    topK: topK > 0 ? topK : null,
    topP: topP > 0 ? topP : null,
    greedy: false,
    smooth: Boolean(call.more_smooth ?? false),
  };
}

const TRACE_NAMES: Record<string, string> = { logits: 'logits_2B', guidedLogits: 'logits_cfg', probs: 'probs', indices: 'idx', fHat: 'fhat' };

/** Runs the scale loop with observers; returns the final state's f̂ (caller frees) after disposing the state. */
function runScales(F: Engine, g: Generator, c: ParityCase, labels: Int32Array, nullClass: number, settings: SamplerSettings, out: OutputCollector, edit?: { tokens: Tensor[]; keep_PP: Float32Array }): Tensor {
  const draws = c.draws();
  const direction = g.direction as ScaleDirection;
  const ctx = samplingContext(F, g, draws, settings, labels, nullClass);
  let state: ScaleState = direction.init(ctx, {
    edit,
    guided: true, // VAR always runs the doubled batch
    observe: (k, name, value) => {
      if (name === 'codeMap' && settings.smooth) out.put(`h_BChw.s${k}`, value);
      else if (TRACE_NAMES[name]) out.put(`${TRACE_NAMES[name]}.s${k}`, value);
    },
  });
  try {
    while (!state.done) state = direction.step(state, ctx);
    if (draws.remaining !== 0) throw new TesseraError('DRAW_MISMATCH', `\`${c.file}\`: ${draws.remaining} recorded draws were not consumed`, { subject: c.file });
    return direction.features(state);
  } finally {
    direction.dispose(state);
    F.dispose([ctx.labels, ctx.nullLabels]);
  }
}

export const varInferHandler: ParityHandler = {
  kind: 'var.infer',
  async run(c, F) {
    const g = varGenerator(c, F);
    const out = new OutputCollector(c);
    try {
      const call = c.config<Kwargs>('call');
      const nullClass = num(c.config<Kwargs>('var'), 'num_classes');
      const labels = callLabels(c, num(call, 'B'), nullClass);
      const fHat = runScales(F, g, c, labels, nullClass, varSettings(call), out);
      if ('img' in c.manifest.outputs) await out.putTensor(F, 'img', F.tidy(() => F.mul(F.add(g.tokenizer.multiScale!.decodeFeatures(fHat), 1), 0.5)));
      await out.putTensor(F, 'fhat', fHat);
    } finally {
      disposeGenerator(g);
    }
    return out.out;
  },
};

export const varEditHandler: ParityHandler = {
  kind: 'var.edit.masked_infer',
  async run(c, F) {
    const g = varGenerator(c, F);
    const out = new OutputCollector(c);
    const pns = c.config<number[]>('var.patch_nums');
    const tokens = pns.map((_, k) => F.fromHost(c.input(`tokens.s${k}`)));
    try {
      const call = c.config<Kwargs>('call');
      const nullClass = num(c.config<Kwargs>('var'), 'num_classes');
      const P = pns[pns.length - 1];
      const box = { y0: num(call, 'y0'), x0: num(call, 'x0'), y1: num(call, 'y1'), x1: num(call, 'x1') };
      const keep_PP = editMask(P, box, Boolean(call.inpainting));
      out.put('edit_mask', { dtype: 'float32', shape: [P, P], data: keep_PP });
      for (const [k, pn] of pns.entries()) await out.putTensor(F, `force_gt.s${k}`, scaleKeepMask(F, keep_PP, pn));
      const labels = toInt32(c.input('label_B'));
      const fHat = runScales(F, g, c, labels, nullClass, varSettings(call), out, { tokens, keep_PP });
      await out.putTensor(F, 'fhat', fHat);
    } finally {
      F.dispose(tokens);
      disposeGenerator(g);
    }
    return out.out;
  },
};

/** VAR's per-token loss, `CrossEntropyLoss(label_smoothing=ε, reduction='none')`, re-stated for the `ce_BL` trace. */
function crossEntropy_BL(F: Engine, logits_BLV: Tensor, target_BL: Tensor, eps: number): Tensor {
  const V = logits_BLV.shape[2];
  const logp = F.logSoftmax(logits_BLV, -1);
  const nll = F.neg(F.sum(F.mul(logp, F.oneHot(target_BL, V)), -1));
  return eps === 0 ? nll : F.add(F.mul(nll, 1 - eps), F.mul(F.neg(F.sum(logp, -1)), eps / V));
}

export const varTrainLossHandler: ParityHandler = {
  kind: 'var.train.loss',
  async run(c, F) {
    const call = c.config<Kwargs>('call');
    const g = varGenerator(c, F, num(call, 'label_smooth', 0));
    const out = new OutputCollector(c);
    const pns = c.config<number[]>('var.patch_nums');
    const indices = pns.map((_, k) => F.tidy(() => F.cast(F.fromHost(c.input(`gt_idx.s${k}`)), 'int32')));
    const labels = F.tidy(() => F.cast(F.fromHost(c.input('label_B')), 'int32'));
    const logitsOf = (g.head as { logits?: (input: HeadInput) => Tensor }).logits?.bind(g.head);
    if (!logitsOf) throw new TesseraError('PARITY_UNSUPPORTED', `\`${g.head.id}\` exposes no logits for the \`logits_BLV\` output`, { subject: c.file });
    try {
      const direction = g.direction as ScaleDirection;
      const progSi = num(call, 'prog_si', -1);
      direction.setProgressiveStage(progSi >= 0 ? { scale: progSi, weight: num(call, 'prog_wp', 1) } : null);
      const draws = c.draws();
      const ex = direction.trainingExample({ kind: 'discrete', indices }, g.tokenizer, draws);
      const result = F.tidy(() => {
        const { hidden, cond } = g.backbone.forward({ inputs: ex.inputs, labels, attention: ex.attention, levels: ex.levels });
        const input = { z: hidden, cond };
        const logits_BLV = logitsOf(input);
        const [B, L] = logits_BLV.shape;
        const target_BL = F.reshape(ex.target.indices as Tensor, [B, L]);
        const loss = F.reshape(F.mul(g.head.loss(input, ex.target, ex.weights, draws), ex.lossScale ?? 1), [1]);
        return { logits_BLV, ce_BL: crossEntropy_BL(F, logits_BLV, target_BL, num(call, 'label_smooth', 0)), loss };
      });
      await out.putTensor(F, 'x_BLCv_wo_first_l', ex.inputs);
      for (const [name, t] of Object.entries(result)) await out.putTensor(F, name, t);
      F.dispose([...(ex.levels ? [ex.levels] : []), ...(ex.target.indices ? [ex.target.indices] : []), ...(ex.weights ? [ex.weights] : [])]);
    } finally {
      F.dispose([...indices, labels]);
      disposeGenerator(g);
    }
    return out.out;
  },
};

export const scaleParityHandlers: ParityHandler[] = [varInferHandler, varEditHandler, varTrainLossHandler];
