/**
 * Parity handlers for HART's transformer (spec/hart.md §4, §9): `hart.transformer.rope`
 * (2-D image positions, RoPE tables, rotated q/k) and `hart.transformer.forward` (the
 * teacher-forced training forward of `HARTForT2I.forward`, §4.7: MAR-style masking of
 * the last scale, condition drop, blocks, head logits, diffusion condition and target,
 * and the residual diffusion loss). The head logits and the diffusion loss belong to the
 * head plugins; core never imports plugins, so the few lines they need are re-stated
 * here (`adaLNBeforeHeadLogits`, `hart-diffloss.ts`) for this check only.
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import { TesseraError } from '../../errors';
import { collectOutputs } from '../../parity/host-tensors';
import type { ParityCase, ParityHandler, ParityOutputs } from '../../parity/types';
import { toInt32, type HostTensor } from '../../tensor/host';
import { applyRotary } from './attention';
import { HartTransformer, RMSNorm } from './hart-model';
import { diffusionTrainingLoss } from './hart-diffloss';
import { adaLNBeforeHeadLogits, splitHeadWeights } from './parity-var';
import { concatRotary, contextRotary, imagePositions, imageRotary } from './rope';
import { attentionMask } from './sequence';

async function runRope(c: ParityCase, F: Engine): Promise<ParityOutputs> {
  const patchNums = c.config<number[]>('patch_nums');
  const hd = c.config<number>('head_dim');
  const outputs = F.tidy(() => {
    const pos_BT = F.fromHost(c.input('context_position_ids'));
    const imgPos_BN2 = imagePositions(F, patchNums, pos_BT);
    const { cos_BLd, sin_BLd } = concatRotary(F, [contextRotary(F, pos_BT, hd), imageRotary(F, imgPos_BN2, hd)]);
    const cos = F.expandDims(cos_BLd, 1);
    const sin = F.expandDims(sin_BLd, 1);
    return {
      img_position_ids: imgPos_BN2,
      cos: cos_BLd,
      sin: sin_BLd,
      q_rot: applyRotary(F, F.fromHost(c.input('q')), cos, sin),
      k_rot: applyRotary(F, F.fromHost(c.input('k')), cos, sin),
    };
  });
  return collectOutputs(F, outputs);
}

/** Positions of the last scale masked by `order[:n]` (a Python slice: negative n drops from the end). */
function keptPositions(order: Int32Array, N: number, n: number): number[] {
  const maskedCount = n >= 0 ? Math.min(n, N) : Math.max(0, N + n);
  const masked = new Set(order.subarray(0, maskedCount));
  return Array.from({ length: N }, (_, i) => i).filter((i) => !masked.has(i));
}

function buildModel(c: ParityCase, F: Engine): HartTransformer {
  const cfg = (key: string): unknown => c.config(`t2i_config.${key}`);
  for (const key of ['attn_type', 'mlp_type']) {
    if (cfg(key) !== 'llama') throw new TesseraError('PARITY_UNSUPPORTED', `\`${c.file}\`: \`${key}\` = ${String(cfg(key))}; the adaln backbone implements HART's llama variant only`, { subject: c.file });
  }
  return new HartTransformer(F, {
    depth: cfg('depth') as number,
    embedDim: cfg('embed_dim') as number,
    numHeads: cfg('num_heads') as number,
    mlpRatio: cfg('mlp_ratio') as number,
    normEps: cfg('norm_eps') as number,
    attnL2Norm: cfg('attn_l2_norm') as boolean,
    patchNums: cfg('patch_nums') as number[],
    vocabEmbedDim: c.config<number>('tokenizer_config.z_channels'),
    contextTokens: cfg('context_token') as number,
    conditioning: { kind: 'context', contextDim: cfg('context_dim') as number, contextNorm: cfg('use_context_norm') as boolean },
    pooling: cfg('sep_aln_pooling_mode') as 'avg' | 'max',
    timestepLevelEmbed: cfg('use_timestep_embed') as boolean,
  });
}

async function runForward(c: ParityCase, F: Engine): Promise<ParityOutputs> {
  const model = buildModel(c, F);
  const { backbone, head } = splitHeadWeights(c.params(), ['head_nm.', 'head.', 'diffloss.', 'vae.']);
  model.loadStateDict(backbone, { source: c.file });
  const patchNums = c.config<number[]>('t2i_config.patch_nums');
  const T = model.T;
  const V = c.config<number>('tokenizer_config.vocab_size');
  const condDropRate = c.config<number>('t2i_config.cond_drop_rate');
  const contextHost = c.input('context');
  const [B] = contextHost.shape;
  const N = patchNums[patchNums.length - 1] ** 2;
  const imageL = model.imageL;
  const draws = c.draws();

  // [orders] one random order of the last scale per sample (recorded as one (B, N) draw).
  const orders = draws.integers([B, N], 0, N, 'orders');
  // [mask_rate] truncnorm on [0.5, 1], mode 1, σ 0.25; n = min(⌈N·r⌉, N − 32) is a slice end (quirk Q13).
  const rate = draws.truncatedNormal([1], 1, 0.25, 0.5, 1, 'mask_rate')[0];
  const n = Math.min(Math.ceil(N * rate), N - 32);
  const kept = Array.from({ length: B }, (_, b) => keptPositions(orders.subarray(b * N, (b + 1) * N), N, n));
  const K = kept[0].length;
  // [cond drop] randn < rate (quirk Q1); dropped rows get a zero context, mask and positions untouched.
  const dropNoise = draws.normal([B], 'cond_drop');

  const keptIndex = new Int32Array(B * (imageL - N + K));
  kept.forEach((positions, b) => {
    const row = keptIndex.subarray(b * (imageL - N + K));
    for (let i = 0; i < imageL - N; i++) row[i] = i;
    positions.forEach((p, j) => { row[imageL - N + j] = imageL - N + p; });
  });

  const stage1 = F.tidy(() => {
    const keep_B11 = F.tensor(Float32Array.from(dropNoise, (u) => (u < condDropRate ? 0 : 1)), [B, 1, 1]);
    const context = F.mul(F.fromHost(contextHost), keep_B11);
    const cond_BTC = model.contextCondition(context);
    const imageIndex_BN = F.tensor(keptIndex, [B, imageL - N + K], 'int32');
    const x_BLCv = F.fromHost(c.input('x_BLCv_wo_first_l'));
    const Cv = x_BLCv.shape[2];
    const flat = F.add(imageIndex_BN, F.reshape(F.mul(F.arange(0, B), imageL), [B, 1])); // row b*imageL + index
    const x_BNCv = F.reshape(F.gather(F.reshape(x_BLCv, [B * imageL, Cv]), flat, 0), [B, -1, Cv]);
    const blockSizes = [T, ...patchNums.slice(1, -1).map((p) => p * p), K];
    const ed = T + imageL - N + K;
    const { hidden_BLC } = model.forward({
      cond_BTC,
      contextMask_BT: F.fromHost(c.input('context_mask')),
      contextPos_BT: F.fromHost(c.input('context_position_ids')),
      withContext: true,
      x_BNCv,
      imageIndex_BN,
      mask: attentionMask(F, { kind: 'block-causal', blockSizes }, 0, ed),
    });
    const headNorm = new RMSNorm(F, hidden_BLC.shape[2], model.cfg.normEps);
    headNorm.loadStateDict(new Map([['weight', head.get('head_nm.ln_wo_grad.weight') as HostTensor]]));
    const logits_BLV = adaLNBeforeHeadLogits(F, head, hidden_BLC, model.headCondition(cond_BTC), (x) => headNorm.forward(x));
    headNorm.dispose();
    return { context, hidden_BLC, logits_BLV, ed };
  });
  const { ed } = stage1;

  // [multinomial] last-scale ids from the logits (top-k 600, top-p 0.96); with V < 600 topk raises and the gt ids are used (Q4).
  const gtIds = toInt32(c.input('last_layer_gt_discrete'));
  let ids: Int32Array;
  if (V >= 600) {
    const lastLogits = F.tidy(() => F.softmax(F.reshape(F.slice(stage1.logits_BLV, [0, ed - K, 0], [B, K, V]), [B * K, V]), -1));
    ids = draws.multinomial(F.readSync(lastLogits) as Float32Array, B * K, V, 1, 'last-scale ids');
    F.dispose(lastLogits);
  } else {
    ids = Int32Array.from(kept.flatMap((positions, b) => positions.map((p) => gtIds[b * N + p])));
  }

  const stage2 = F.tidy(() => {
    const codebook_VCv = F.fromHost(head.get('vae.quantize.embedding.weight') as HostTensor);
    const Cv = codebook_VCv.shape[1];
    const codes_BKCv = F.reshape(F.gather(codebook_VCv, F.tensor(ids, [B * K], 'int32'), 0), [B, K, Cv]);
    const hiddenLast_BKC = F.slice(stage1.hidden_BLC, [0, ed - K, 0], [B, K, -1]);
    const diffCond_BKC = model.diffusionCondition(hiddenLast_BKC, codes_BKCv);
    const gtFlat = F.tensor(Int32Array.from(kept.flatMap((positions, b) => positions.map((p) => b * N + p))), [B * K], 'int32');
    const gt_BKCv = F.reshape(F.gather(F.reshape(F.fromHost(c.input('last_layer_gt')), [B * N, Cv]), gtFlat, 0), [B, K, Cv]);
    return { diffCond_BKC, diffTarget_BKCv: F.sub(gt_BKCv, codes_BKCv) };
  });

  const diff = diffusionTrainingLoss(F, head, stage2.diffCond_BKC, stage2.diffTarget_BKCv, {
    batchMul: c.config<number>('t2i_config.diffusion_batch_mul'),
    depth: c.config<number>('t2i_config.diff_depth'),
    draws,
  });
  model.dispose();
  const outputs: Record<string, Tensor> = {
    logits: F.slice(stage1.logits_BLV, [0, T - 1, 0], [B, -1, V]),
    hidden: stage1.hidden_BLC,
    context_effective: stage1.context,
    kept_last_positions: F.tensor(Int32Array.from(kept.flat()), [B, K], 'int32'),
    diff_cond: stage2.diffCond_BKC,
    diff_target: stage2.diffTarget_BKCv,
    diff_mse: diff.mse_R,
    diff_vb: diff.vb_R,
    diff_loss_per_row: diff.loss_R,
    diff_loss: diff.loss,
  };
  F.dispose(stage1.logits_BLV);
  return collectOutputs(F, outputs);
}

export const hartRopeHandler: ParityHandler = { kind: 'hart.transformer.rope', run: runRope };
export const hartTransformerForwardHandler: ParityHandler = { kind: 'hart.transformer.forward', run: runForward };
