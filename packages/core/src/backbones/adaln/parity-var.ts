/**
 * Parity handler `var.transformer.forward` (spec/var.md §6, §12.2): VAR's teacher-forced
 * forward from the case's weights, labels and token inputs, with the block-causal mask of
 * its patch list. The logits need VAR's head (`head_nm` + `head`), which belongs to the
 * categorical head plugin; core never imports plugins, so `adaLNBeforeHeadLogits` below
 * re-states that ten-line head (§5.8) for this check only.
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import { collectOutputs } from '../../parity/host-tensors';
import type { ParityCase, ParityHandler, ParityOutputs } from '../../parity/types';
import type { HostTensor } from '../../tensor/host';
import { attentionMask, levelBlockSizes } from './sequence';
import { VarTransformer } from './var-model';

/** Splits `param.*` into the backbone's weights and the head's (`head_nm.*`, `head.*`). */
export function splitHeadWeights(all: Map<string, HostTensor>, headPrefixes: string[]): { backbone: Map<string, HostTensor>; head: Map<string, HostTensor> } {
  const backbone = new Map<string, HostTensor>();
  const head = new Map<string, HostTensor>();
  for (const [k, t] of all) (headPrefixes.some((p) => k.startsWith(p)) ? head : backbone).set(k, t);
  return { backbone, head };
}

/**
 * Logits of an AdaLN-before-head + linear head (VAR `AdaLNBeforeHead`, HART's with an
 * RMSNorm): (s, β) = ada_lin(SiLU(cond)) (scale first), logits = head(norm(x)(1 + s) + β).
 * Duplicated from the categorical head plugin for parity only.
 */
export function adaLNBeforeHeadLogits(F: Engine, head: Map<string, HostTensor>, hidden_BLC: Tensor, cond_BD: Tensor, norm: (x: Tensor) => Tensor): Tensor {
  const t = (k: string): Tensor => F.fromHost(head.get(k) as HostTensor);
  const C = hidden_BLC.shape[2];
  const ada_B12C = F.reshape(F.linear(F.silu(cond_BD), t('head_nm.ada_lin.1.weight'), t('head_nm.ada_lin.1.bias')), [-1, 1, 2, C]);
  const [scale_B1C, shift_B1C] = F.split(ada_B12C, [1, 1], 2).map((x) => F.reshape(x, [-1, 1, C]));
  const modulated = F.add(F.mul(norm(hidden_BLC), F.add(scale_B1C, 1)), shift_B1C);
  return F.linear(modulated, t('head.weight'), t('head.bias'));
}

async function runVarForward(c: ParityCase, F: Engine): Promise<ParityOutputs> {
  const depth = c.config<number>('depth');
  const patchNums = c.config<number[]>('patch_nums');
  const normEps = c.config<number>('norm_eps');
  const model = new VarTransformer(F, {
    depth,
    embedDim: c.config<number>('embed_dim'),
    numHeads: c.config<number>('num_heads'),
    mlpRatio: c.config<number>('mlp_ratio'),
    normEps,
    sharedAdaLN: c.config<boolean>('shared_aln'),
    attnL2Norm: c.config<boolean>('attn_l2_norm'),
    classes: c.config<number>('num_classes'),
    patchNums,
    vocabEmbedDim: c.config<number>('vae_Cvae'),
  });
  const { backbone, head } = splitHeadWeights(c.params(), ['head_nm.', 'head.']);
  model.loadStateDict(backbone, { source: c.file });
  const draws = c.draws();
  const condDropRate = c.config<number>('cond_drop_rate');
  const labelsHost = c.input('label_B');
  const B = labelsHost.shape[0];
  // VAR.forward drops labels in every call (quirk 9); a case with a non-zero rate records the U(0,1) draw.
  const dropped = condDropRate > 0 && draws.remaining > 0 ? draws.uniform([B], 'cond_drop') : undefined;
  const outputs = F.tidy(() => {
    let labels_B = F.fromHost(labelsHost);
    if (dropped) labels_B = F.where(F.less(F.tensor(dropped, [B]), condDropRate), c.config<number>('num_classes'), labels_B);
    const mask = attentionMask(F, { kind: 'block-causal', blockSizes: levelBlockSizes(patchNums) }, 0, model.L);
    const { hidden_BLC, cond_BD, xIn_BLC } = model.forward(labels_B, F.fromHost(c.input('x_BLCv_wo_first_l')), mask);
    const ln = (x: Tensor): Tensor => F.layerNorm(x, undefined, undefined, normEps);
    const out: Record<string, Tensor> = {
      logits_BLV: adaLNBeforeHeadLogits(F, head, hidden_BLC, cond_BD, ln),
      cond_BD,
      x_BLC_in: xIn_BLC,
    };
    const lastBlock = `block${depth - 1}_out`;
    if (lastBlock in c.manifest.outputs) out[lastBlock] = hidden_BLC;
    return out;
  });
  model.dispose();
  return collectOutputs(F, outputs);
}

export const varTransformerForwardHandler: ParityHandler = { kind: 'var.transformer.forward', run: runVarForward };
