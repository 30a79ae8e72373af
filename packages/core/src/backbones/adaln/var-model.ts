/**
 * VAR's decoder-only transformer without its head (spec/var.md §5.3–5.7 and §6;
 * FoundationVision/VAR `models/var.py` `VAR` and `models/basic_var.py` `AdaLNSelfAttn`,
 * `FFN`). Parameter names are VAR's state_dict keys, so `var_d16.pth` loads 1:1 (its
 * `head_nm.*` / `head.*` keys belong to the categorical head).
 *
 * Sequence: `first_l` start tokens (class embedding + `pos_start`), then the projected
 * token-map inputs (`word_embed`); every position gets its level embedding and its
 * absolute position `pos_1LC`. Each block applies AdaLN modulation from the class
 * condition: x += γ1·Attn(LN(x)(1+s1)+β1); x += γ2·FFN(LN(x)(1+s2)+β2), chunk order
 * γ1 γ2 s1 s2 β1 β2. The attention mask is the caller's (block-causal for next-scale).
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import { Embedding, Linear } from '../../nn/layers';
import { Module, Parameter, type Initializer, type LoadOptions } from '../../nn/module';
import { normal, truncNormal, zeros } from '../../nn/init';
import type { Rng } from '../../rng/rng';
import type { HostTensor } from '../../tensor/host';
import { SelfAttention, type AttentionCall } from './attention';
import { blockCausalBias, checkLength, levelBlockSizes, levelsOf } from './sequence';

export interface VarTransformerConfig {
  depth: number;
  embedDim: number;
  numHeads: number;
  mlpRatio: number;
  normEps: number;
  sharedAdaLN: boolean;
  attnL2Norm: boolean;
  classes: number;
  patchNums: readonly number[];
  vocabEmbedDim: number;
}

/** Keys and values of every block for the positions seen so far. */
export type BlockKv = { k_BHLd: Tensor; v_BHLd: Tensor }[];

/** A cache as the flat list compiled graphs take and give: k0, v0, k1, v1, … */
export function flatKv(kv: BlockKv): Tensor[] {
  return kv.flatMap((b) => [b.k_BHLd, b.v_BHLd]);
}

/** The blocks' keys and values from a flat list k0, v0, k1, v1, … (`flatKv` undone). */
export function pairKv(flat: readonly Tensor[]): BlockKv {
  return Array.from({ length: flat.length / 2 }, (_, i) => ({ k_BHLd: flat[2 * i], v_BHLd: flat[2 * i + 1] }));
}

class FFN extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(F: Engine, C: number, hidden: number) {
    super(F);
    this.fc1 = this.child('fc1', new Linear(F, C, hidden));
    this.fc2 = this.child('fc2', new Linear(F, hidden, C));
  }

  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.F.gelu(this.fc1.forward(x), 'tanh'));
  }
}

/** VAR's `AdaLNSelfAttn`. */
export class VarBlock extends Module {
  readonly ada_lin: Linear | undefined;
  readonly ada_gss: Parameter | undefined;
  readonly attn: SelfAttention;
  readonly ffn: FFN;

  constructor(F: Engine, readonly cfg: VarTransformerConfig) {
    super(F);
    const C = cfg.embedDim;
    if (cfg.sharedAdaLN) this.ada_gss = this.param('ada_gss', [1, 1, 6, C], normal(1 / Math.sqrt(C)));
    else this.ada_lin = this.child('ada_lin.1', new Linear(F, C, 6 * C));
    this.attn = this.child('attn', new SelfAttention(F, C, cfg.numHeads, cfg.attnL2Norm, 'mat_qkv'));
    this.ffn = this.child('ffn', new FFN(F, C, Math.round(C * cfg.mlpRatio)));
  }

  /**
   * The block's AdaLN modulation (B, 1, 6, C) from `cond_BD`, or with shared AdaLN from
   * the shared projection (B, 1, 6, C). It depends on the condition only, so sampling
   * computes it once per image and reuses it at every step.
   */
  modulation(condOrShared: Tensor): Tensor {
    const F = this.F;
    if (this.ada_gss) return F.add(this.ada_gss.value, condOrShared);
    return F.reshape((this.ada_lin as Linear).forward(F.silu(condOrShared)), [-1, 1, 6, this.cfg.embedDim]);
  }

  forward(x_BLC: Tensor, ada_B16C: Tensor, call: AttentionCall): { x_BLC: Tensor; k_BHLd: Tensor; v_BHLd: Tensor } {
    const F = this.F;
    const C = this.cfg.embedDim;
    const [gamma1, gamma2, scale1, scale2, shift1, shift2] = F.split(ada_B16C, [1, 1, 1, 1, 1, 1], 2).map((t) => F.reshape(t, [-1, 1, C]));
    const ln = (x: Tensor): Tensor => F.layerNorm(x, undefined, undefined, this.cfg.normEps);
    const attn = this.attn.forward(F.add(F.mul(ln(x_BLC), F.add(scale1, 1)), shift1), call);
    const x1 = F.add(x_BLC, F.mul(attn.out_BLC, gamma1));
    const x2 = F.add(x1, F.mul(this.ffn.forward(F.add(F.mul(ln(x1), F.add(scale2, 1)), shift2)), gamma2));
    return { x_BLC: x2, k_BHLd: attn.k_BHLd, v_BHLd: attn.v_BHLd };
  }
}

export class VarTransformer extends Module {
  readonly firstL: number;
  readonly L: number;
  readonly levels: Int32Array;
  readonly word_embed: Linear;
  readonly class_emb: Embedding;
  readonly pos_start: Parameter;
  readonly pos_1LC: Parameter;
  readonly lvl_embed: Embedding;
  readonly shared_ada_lin: Linear | undefined;
  readonly blocks: VarBlock[];

  constructor(F: Engine, readonly cfg: VarTransformerConfig) {
    super(F);
    const C = cfg.embedDim;
    this.firstL = cfg.patchNums[0] ** 2;
    this.levels = levelsOf(levelBlockSizes(cfg.patchNums));
    this.L = this.levels.length;
    const std = Math.sqrt(1 / C / 3); // init_std < 0: automated, as the official factory asks
    this.word_embed = this.child('word_embed', new Linear(F, cfg.vocabEmbedDim, C));
    this.class_emb = this.child('class_emb', new Embedding(F, cfg.classes + 1, C));
    this.pos_start = this.param('pos_start', [1, this.firstL, C], truncNormal(std));
    this.pos_1LC = this.param('pos_1LC', [1, this.L, C], truncNormal(std));
    this.lvl_embed = this.child('lvl_embed', new Embedding(F, cfg.patchNums.length, C));
    if (cfg.sharedAdaLN) this.shared_ada_lin = this.child('shared_ada_lin.1', new Linear(F, C, 6 * C));
    this.blocks = this.list('blocks', Array.from({ length: cfg.depth }, () => new VarBlock(F, cfg)));
    const levels = this.levels;
    const L = this.L;
    this.buffer('lvl_1L', [1, L], () => Float32Array.from(levels));
    this.buffer('attn_bias_for_masking', [1, 1, L, L], () => blockCausalBias(levels));
  }

  /**
   * Loads VAR weights; the derivable buffers (`lvl_1L`, `attn_bias_for_masking`) may be
   * absent (fixtures omit the L×L mask) and are then computed.
   */
  override loadStateDict(weights: ReadonlyMap<string, HostTensor>, options: LoadOptions = {}): void {
    const prefix = options.prefix ?? '';
    const filled = new Map(weights);
    if (!filled.has(`${prefix}lvl_1L`)) filled.set(`${prefix}lvl_1L`, { dtype: 'int32', shape: [1, this.L], data: Int32Array.from(this.levels) });
    if (!filled.has(`${prefix}attn_bias_for_masking`)) {
      filled.set(`${prefix}attn_bias_for_masking`, { dtype: 'float32', shape: [1, 1, this.L, this.L], data: blockCausalBias(this.levels) });
    }
    super.loadStateDict(filled, options);
  }

  /**
   * Random initialisation as VAR's `init_weights(init_adaln=0.5, init_adaln_gamma=1e-5,
   * init_std=-1)`: trunc-normal(√(1/3C)) linears and embeddings with zero biases, output
   * projections divided by √(2·depth), AdaLN γ rows scaled by 1e-5 and s/β rows by 0.5.
   */
  override initialize(rng: Rng, force = false): this {
    const C = this.cfg.embedDim;
    const std = Math.sqrt(1 / C / 3);
    const residualGain = 1 / Math.sqrt(2 * this.cfg.depth);
    for (const [key, p] of this.namedParameters()) {
      if (p.materialized && !force) continue;
      let init: Initializer = p.init;
      if (/(^|\.)(word_embed|mat_qkv|proj|fc1|fc2|ada_lin\.1|shared_ada_lin\.1)\.bias$/.test(key)) init = zeros;
      else if (/(^|\.)(attn\.proj|ffn\.fc2)\.weight$/.test(key)) init = scaled(truncNormal(std), () => residualGain);
      else if (/(^|\.)ada_lin\.1\.weight$/.test(key)) init = scaled(truncNormal(std), (i, n) => (i < n / 3 ? 1e-5 : 0.5));
      else if (/(^|\.)ada_gss$/.test(key)) init = scaled(p.init, (i, n) => (i < n / 3 ? 1e-5 : 0.5));
      else if (/\.weight$/.test(key)) init = truncNormal(std);
      p.set(this.F.tensor(init(p.shape, rng), p.shape, 'float32'));
    }
    return this;
  }

  /** Class condition `c = class_emb[label]`, (B, C). */
  condition(labels_B: Tensor): Tensor {
    return this.class_emb.forward(labels_B);
  }

  /** Every block's AdaLN modulation (B, 1, 6, C) for the condition `cond_BD` (through the shared projection with shared AdaLN). */
  modulations(cond_BD: Tensor): Tensor[] {
    const shared = this.shared_ada_lin ? this.F.reshape(this.shared_ada_lin.forward(this.F.silu(cond_BD)), [-1, 1, 6, this.cfg.embedDim]) : cond_BD;
    return this.blocks.map((b) => b.modulation(shared));
  }

  /**
   * Block-0 input for positions [start, start + n): the start tokens when `start` is 0,
   * then `word_embed` of `x_BlCv` (the token inputs after the start tokens, or undefined),
   * plus level and absolute position embeddings. `levels_L` overrides the per-position
   * level (int32, whole sequence).
   */
  embed(cond_BD: Tensor, x_BlCv: Tensor | undefined, start: number, levels_L?: Tensor): Tensor {
    const F = this.F;
    const B = cond_BD.shape[0];
    const C = this.cfg.embedDim;
    const parts: Tensor[] = [];
    if (start === 0) {
      const sos_B1C = F.reshape(cond_BD, [B, 1, C]);
      parts.push(F.add(F.broadcastTo(sos_B1C, [B, this.firstL, C]), this.pos_start.value));
    }
    if (x_BlCv && x_BlCv.shape[1] > 0) parts.push(this.word_embed.forward(x_BlCv));
    const x_BlC = F.concat(parts, 1);
    const n = x_BlC.shape[1];
    checkLength('VAR sequence', start + n, this.L);
    const lvl_l = levels_L ? F.slice(levels_L, [start], [n]) : F.tensor(this.levels.subarray(start, start + n), [n], 'int32');
    const lvlPos_1lC = F.add(F.expandDims(this.lvl_embed.forward(lvl_l), 0), F.slice(this.pos_1LC.value, [0, start, 0], [1, n, C]));
    return F.add(x_BlC, lvlPos_1lC);
  }

  /**
   * Block-0 input of token inputs at the positions `pos_n` (int32 [n], counted from the
   * sequence start, so ≥ `firstL`): `embed` for positions known only at run time (a
   * fixed-capacity cache step, fixed-cache.ts).
   */
  embedAt(x_BnCv: Tensor, pos_n: Tensor, levels_L?: Tensor): Tensor {
    const F = this.F;
    const levels = levels_L ?? F.tensor(this.levels, [this.L], 'int32');
    const pos_1nC = F.expandDims(F.gather(F.reshape(this.pos_1LC.value, [this.L, this.cfg.embedDim]), pos_n, 0), 0);
    const lvl_1nC = F.expandDims(this.lvl_embed.forward(F.gather(levels, pos_n, 0)), 0);
    return F.add(this.word_embed.forward(x_BnCv), F.add(lvl_1nC, pos_1nC));
  }

  /**
   * Runs every block with its modulation (`modulations`); `past` holds each block's cached
   * keys/values (sampling), written at `slot` when the cache has a fixed capacity.
   */
  blocksForward(x_BLC: Tensor, ada: readonly Tensor[], mask: Tensor | undefined, past?: BlockKv, slot?: Tensor): { hidden_BLC: Tensor; kv: BlockKv } {
    const kv: BlockKv = [];
    let x = x_BLC;
    this.blocks.forEach((block, i) => {
      const r = block.forward(x, ada[i], { mask, past: past?.[i], slot });
      x = r.x_BLC;
      kv.push({ k_BHLd: r.k_BHLd, v_BHLd: r.v_BHLd });
    });
    return { hidden_BLC: x, kv };
  }

  /** Teacher-forced forward (§6 without the head): hidden states, the condition, and block 0's input. */
  forward(labels_B: Tensor, x_BlCv: Tensor, mask: Tensor | undefined, levels_L?: Tensor): { hidden_BLC: Tensor; cond_BD: Tensor; xIn_BLC: Tensor } {
    const cond_BD = this.condition(labels_B);
    const xIn_BLC = this.embed(cond_BD, x_BlCv, 0, levels_L);
    const { hidden_BLC } = this.blocksForward(xIn_BLC, this.modulations(cond_BD), mask);
    return { hidden_BLC, cond_BD, xIn_BLC };
  }
}

/** An initialiser whose i-th value (of n) is multiplied by gain(i, n). */
function scaled(init: Initializer, gain: (i: number, n: number) => number): Initializer {
  return (shape, rng) => {
    const w = init(shape, rng);
    for (let i = 0; i < w.length; i++) w[i] *= gain(i, w.length);
    return w;
  };
}
