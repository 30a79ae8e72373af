/**
 * Parity handlers for HART's transformer (spec/hart.md §4, §9): `hart.transformer.rope`
 * (2-D image positions, RoPE tables, rotated q/k) and `hart.transformer.forward` (the
 * teacher-forced training forward of `HARTForT2I.forward`, §4.7–4.8). The latter runs
 * HART's training path through the plugins, resolved by name through a PluginHost as a
 * config would (core never imports them): direction `scale` builds the masked example
 * and head `categorical` with its composed residual `diffusion` head takes the loss. The
 * released model is text-conditioned, which the class-conditioned `adaln` backbone does
 * not take, so the transformer between them is core's `HartTransformer`, driven here.
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import { TesseraError } from '../../errors';
import { Module } from '../../nn/module';
import { collectOutputs } from '../../parity/host-tensors';
import type { ParityCase, ParityHandler, ParityOutputs } from '../../parity/types';
import type { HostTensor } from '../../tensor/host';
import type { Direction, TrainingExample } from '../../contracts/direction';
import type { Head, HeadInput } from '../../contracts/head';
import type { Tokenizer } from '../../contracts/tokenizer';
import type { DiscreteTokens } from '../../contracts/token-space';
import { DIRECTION, HEAD } from '../../contracts/tokens';
import { instantiatePlugin, parityPluginHost } from '../mae/parity-plugins';
import { applyRotary } from './attention';
import { HartTransformer } from './hart-model';
import { splitHeadWeights } from './parity-var';
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

/** `config.t2i_config` / `tokenizer_config` of the case as the options of head `categorical` with its residual `diffusion` head. */
function headOptions(c: ParityCase): Record<string, unknown> {
  const t = (key: string): unknown => c.config(`t2i_config.${key}`);
  const embedDim = t('embed_dim') as number;
  return {
    width: embedDim, vocab: c.config<number>('tokenizer_config.vocab_size'), norm: 'rms', normEps: t('norm_eps'),
    residual: {
      use: 'diffusion',
      options: {
        mode: 'residual', tokenDim: c.config<number>('tokenizer_config.z_channels'), zChannels: embedDim,
        width: t('diff_width'), depth: t('diff_depth'), numSamplingSteps: String(t('num_sampling_steps')), batchMultiplier: t('diffusion_batch_mul'),
      },
    },
  };
}

class NoParameters extends Module {}

/**
 * The case's tokenizer as far as HART training reads it: the codebook, and the recorded
 * teacher-forcing input (`in.x_BLCv_wo_first_l`; the case ships no φ convolutions to
 * recompute it). Tokens of scales 0..SN−2 only enter the cross-entropy, which the case
 * does not record.
 */
function caseTokenizer(F: Engine, c: ParityCase, codebook_VC: Tensor, patchNums: number[]): Tokenizer {
  const [V, C] = codebook_VC.shape;
  const P = patchNums[patchNums.length - 1];
  const unsupported = (): never => { throw new TesseraError('PARITY_UNSUPPORTED', `\`${c.file}\`: the case's tokenizer only gives codes and the recorded teacher-forcing input`, { subject: c.file }); };
  return {
    id: 'tokenizer/hart.transformer.forward case',
    space: { kind: 'discrete', vocab: V, embedDim: C, grid: [P, P] },
    resolution: [P, P],
    module: new NoParameters(F),
    encode: unsupported,
    decode: unsupported,
    multiScale: {
      patchNums,
      embed: (indices) => F.gather(codebook_VC, F.cast(indices, 'int32'), 0),
      teacherForcingInput: () => F.fromHost(c.input('x_BLCv_wo_first_l')),
      nextInput: unsupported,
      decodeFeatures: unsupported,
    },
  };
}

/** The case's tokens: zeros at scales 0..SN−2, the last scale's ids, residual = last_layer_gt − code (B, C, P, P). */
function caseTokens(F: Engine, c: ParityCase, codebook_VC: Tensor, patchNums: number[]): DiscreteTokens {
  return F.tidy(() => {
    const last_BN = F.cast(F.fromHost(c.input('last_layer_gt_discrete')), 'int32');
    const gt_BNC = F.fromHost(c.input('last_layer_gt'));
    const [B, N, C] = gt_BNC.shape;
    const P = patchNums[patchNums.length - 1];
    const residual_BNC = F.sub(gt_BNC, F.gather(codebook_VC, last_BN, 0));
    return {
      kind: 'discrete' as const,
      indices: [...patchNums.slice(0, -1).map((pn) => F.zeros([B, pn * pn], 'int32')), last_BN],
      residual: F.reshape(F.transpose(residual_BNC, [0, 2, 1]), [B, C, P, P]), // (B, N, C) -> (B, C, N) -> (B, C, P, P)
    };
  });
}

function disposeExample(F: Engine, ex: TrainingExample): void {
  const r = ex.target.residual;
  const all = [ex.inputs, ex.visible, ex.levels, ex.positions, ex.headLevels, ex.target.indices, ex.target.values, ex.weights, r?.rows, r?.values, r?.codebook];
  F.dispose(all.filter((t): t is Tensor => t !== undefined));
}

/** The last-scale outputs: kept positions from the example's `positions` [B, I], the residual terms from the heads' observers. */
function residualOutputs(
  c: ParityCase, observed: Map<string, HostTensor>, positions: { data: Int32Array; I: number; lastStart: number }, [B, K, C, Cv]: number[],
): Map<string, HostTensor> {
  const { data, I, lastStart } = positions;
  const kept = Int32Array.from({ length: B * K }, (_, r) => data[Math.floor(r / K) * I + I - K + (r % K)] - lastStart);
  const take = (name: string, shape?: number[]): HostTensor => {
    const v = observed.get(name);
    if (!v) throw new TesseraError('PARITY_UNSUPPORTED', `\`${c.file}\`: the heads did not report \`${name}\``, { subject: c.file });
    return shape ? { ...v, shape } : v;
  };
  return new Map([
    ['kept_last_positions', { dtype: 'int32', shape: [B, K], data: kept }],
    ['diff_cond', take('residual.condition', [B, K, C])],
    ['diff_target', take('residual.target', [B, K, Cv])],
    ['diff_mse', take('residual.mse')],
    ['diff_vb', take('residual.vb')],
    ['diff_loss_per_row', take('residual.rowLoss')],
    ['diff_loss', take('residual.loss')],
  ]);
}

/**
 * The training path of HART through the plugins: direction `scale` (with
 * `lastScaleMasking`) makes the example from the case's tokens [orders, mask rate], the
 * handler drops contexts [cond drop] and runs the text-conditioned transformer on it,
 * and head `categorical` with its residual `diffusion` head takes the loss [multinomial,
 * t, ε]; the per-row terms come from the heads' observers.
 */
async function runForward(c: ParityCase, F: Engine): Promise<ParityOutputs> {
  const patchNums = c.config<number[]>('t2i_config.patch_nums');
  const condDropRate = c.config<number>('t2i_config.cond_drop_rate');
  const host = parityPluginHost();
  const model = buildModel(c, F);
  const direction = instantiatePlugin<Direction>(host, 'direction', 'scale', { lastScaleMasking: true }, DIRECTION, F);
  const head = instantiatePlugin<Head>(host, 'head', 'categorical', headOptions(c), HEAD, F);
  const logitsOf = (head as { logits?: (input: HeadInput) => Tensor }).logits?.bind(head);
  if (!logitsOf) throw new TesseraError('PARITY_UNSUPPORTED', `\`${head.id}\` exposes no logits for the \`logits\` output`, { subject: c.file });
  const { backbone, head: headWeights } = splitHeadWeights(c.params(), ['head_nm.', 'head.', 'diffloss.', 'vae.']);
  const codebook_VC = F.fromHost(headWeights.get('vae.quantize.embedding.weight') as HostTensor);
  const observed = new Map<string, HostTensor>();
  let ex: TrainingExample | undefined;
  try {
    model.loadStateDict(backbone, { source: c.file });
    head.module.loadStateDict(new Map([...headWeights].filter(([k]) => !k.startsWith('vae.'))), { source: c.file });
    const T = model.T;
    const contextHost = c.input('context');
    const [B] = contextHost.shape;
    const draws = c.draws();
    const tokens = caseTokens(F, c, codebook_VC, patchNums);
    try {
      ex = direction.trainingExample(tokens, caseTokenizer(F, c, codebook_VC, patchNums), draws);
    } finally {
      F.dispose([...tokens.indices, tokens.residual as Tensor]);
    }
    const example = ex;
    const residualRows = example.target.residual as NonNullable<TrainingExample['target']['residual']>;
    const K = residualRows.rows.shape[0] / B;
    // [cond drop] randn < rate (quirk Q1); dropped rows get a zero context, mask and positions untouched.
    const dropNoise = draws.normal([B], 'cond_drop');
    const outputs = F.tidy(() => {
      const keep_B11 = F.tensor(Float32Array.from(dropNoise, (u) => (u < condDropRate ? 0 : 1)), [B, 1, 1]);
      const context = F.mul(F.fromHost(contextHost), keep_B11);
      const cond_BTC = model.contextCondition(context);
      if (example.attention.kind !== 'block-causal') throw new TesseraError('PARITY_UNSUPPORTED', 'HART trains block-causally', { subject: c.file });
      // The direction's first block is scale 0 (one token); the text-conditioned model starts with its T context tokens.
      const blockSizes = [T, ...example.attention.blockSizes.slice(1)];
      const ed = T + example.inputs.shape[1];
      const { hidden_BLC } = model.forward({
        cond_BTC,
        contextMask_BT: F.fromHost(c.input('context_mask')),
        contextPos_BT: F.fromHost(c.input('context_position_ids')),
        withContext: true,
        x_BNCv: example.inputs,
        imageIndex_BN: example.positions,
        mask: attentionMask(F, { kind: 'block-causal', blockSizes }, 0, ed),
      });
      // hidden[:, T−1:] predicts scale 0 (from the last context slot), then every fed token.
      const input: HeadInput = {
        z: F.slice(hidden_BLC, [0, T - 1, 0], [B, -1, -1]),
        cond: model.headCondition(cond_BTC),
        residualCondition: (h, codes) => model.diffusionCondition(h, codes),
      };
      const loss = head.loss(input, example.target, example.weights, draws, (name, v) => observed.set(name, v));
      F.dispose(loss);
      return { logits: logitsOf(input), hidden: hidden_BLC, context_effective: context };
    });
    const result = await collectOutputs(F, outputs);
    // Input positions of the last scale start after the other scales' inL − N inputs.
    const lastStart = c.input('x_BLCv_wo_first_l').shape[1] - patchNums[patchNums.length - 1] ** 2;
    const positions = { data: F.readSync(example.positions as Tensor) as Int32Array, I: example.inputs.shape[1], lastStart };
    for (const [k, v] of residualOutputs(c, observed, positions, [B, K, model.cfg.embedDim, codebook_VC.shape[1]])) result.set(k, v);
    return result;
  } finally {
    if (ex) disposeExample(F, ex);
    F.dispose(codebook_VC);
    head.module.dispose();
    model.dispose();
  }
}

export const hartRopeHandler: ParityHandler = { kind: 'hart.transformer.rope', run: runRope };
export const hartTransformerForwardHandler: ParityHandler = { kind: 'hart.transformer.forward', run: runForward };
