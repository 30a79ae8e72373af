/**
 * HART's llama-style AdaLN transformer without its heads (spec/hart.md §4.1–4.4, §4.6;
 * mit-han-lab/hart `hart/modules/models/transformer/hart_transformer_t2i.py`
 * `HARTForT2I` with `attn_type = mlp_type = "llama"`, and `basic_hart.py`
 * `AdaLNSelfAttn`, `LlamaAttention`, `LlamaMLP`, `LlamaRMSNorm`, `TimestepEmbedder`).
 * Parameter names are `HARTForT2I` state_dict keys (`head_nm`, `head` and `diffloss`
 * belong to the head plugins).
 *
 * Sequence: T context tokens (`context_embed(context_norm(context))`, or in Tessera's
 * class-conditional form one `class_emb` row), then the token-map inputs of scales
 * 1..SN−1 (`word_embed`); every token gets the sinusoidal level embedding (context:
 * level 0). No absolute positions: RoPE (rope.ts). Each block pools the context into
 * its AdaLN condition (`avg` over the mask, or `max`), then
 * x += γ1·Attn(RMS(x)(1+s1)+b1); x += γ2·SwiGLU(RMS(x)(1+s2)+b2).
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import { Embedding, Linear } from '../../nn/layers';
import { Module, Parameter, type LoadOptions } from '../../nn/module';
import { ones } from '../../nn/init';
import type { HostTensor } from '../../tensor/host';
import { TesseraError } from '../../errors';
import { SelfAttention, type AttentionCall, type Rotary } from './attention';
import { concatRotary, contextRotary, imagePositions, imageRotary } from './rope';
import { blockCausalBias, levelBlockSizes, levelsOf } from './sequence';
import type { BlockKv } from './var-model';

export interface HartTransformerConfig {
  depth: number;
  embedDim: number;
  numHeads: number;
  mlpRatio: number;
  normEps: number;
  attnL2Norm: boolean;
  patchNums: readonly number[];
  vocabEmbedDim: number;
  /** T: context tokens per sample. */
  contextTokens: number;
  /** `context`: text features through `context_embed`; `class`: one `class_emb` row per label (T = 1). */
  conditioning: { kind: 'context'; contextDim: number; contextNorm: boolean } | { kind: 'class'; classes: number };
  pooling: 'avg' | 'max';
  timestepLevelEmbed: boolean;
}

/** `LlamaRMSNorm`: w ⊙ x·rsqrt(mean(x²) + eps). */
export class RMSNorm extends Module {
  readonly weight: Parameter;

  constructor(F: Engine, dim: number, readonly eps: number) {
    super(F);
    this.weight = this.param('weight', [dim], ones);
  }

  forward(x: Tensor): Tensor {
    const F = this.F;
    const ms = F.mean(F.square(x), -1, true);
    return F.mul(this.weight.value, F.mul(x, F.rsqrt(F.add(ms, this.eps))));
  }
}

const NEG_LN_MAX_PERIOD = Math.fround(-Math.log(10000));

/** `TimestepEmbedder`: [cos(t·f), sin(t·f)] (256-d, f_j = 10000^(−j/128)) → Linear → SiLU → Linear. */
class TimestepEmbedder extends Module {
  readonly fc0: Linear;
  readonly fc2: Linear;

  constructor(F: Engine, C: number, readonly freqDim = 256) {
    super(F);
    this.fc0 = this.child('mlp.0', new Linear(F, freqDim, C));
    this.fc2 = this.child('mlp.2', new Linear(F, C, C));
  }

  /** Embeddings of the integer steps `t` (host values), (n, C). */
  forward(t: readonly number[]): Tensor {
    const half = this.freqDim / 2;
    const table = new Float32Array(t.length * this.freqDim);
    for (let j = 0; j < half; j++) {
      const f = Math.fround(Math.exp(Math.fround(Math.fround(NEG_LN_MAX_PERIOD * j) / half)));
      t.forEach((ti, r) => {
        const arg = Math.fround(ti * f);
        table[r * this.freqDim + j] = Math.cos(arg);
        table[r * this.freqDim + half + j] = Math.sin(arg);
      });
    }
    const F = this.F;
    return this.fc2.forward(F.silu(this.fc0.forward(F.tensor(table, [t.length, this.freqDim]))));
  }
}

class LlamaMLP extends Module {
  readonly gate_proj: Linear;
  readonly up_proj: Linear;
  readonly down_proj: Linear;

  constructor(F: Engine, C: number, hidden: number) {
    super(F);
    this.gate_proj = this.child('gate_proj', new Linear(F, C, hidden, false));
    this.up_proj = this.child('up_proj', new Linear(F, C, hidden, false));
    this.down_proj = this.child('down_proj', new Linear(F, hidden, C, false));
  }

  forward(x: Tensor): Tensor {
    return this.down_proj.forward(this.F.mul(this.F.silu(this.gate_proj.forward(x)), this.up_proj.forward(x)));
  }
}

export class HartBlock extends Module {
  readonly ln_wo_grad: RMSNorm;
  readonly ada_lin: Linear;
  readonly attn: SelfAttention;
  readonly ffn: LlamaMLP;

  constructor(F: Engine, readonly cfg: HartTransformerConfig) {
    super(F);
    const C = cfg.embedDim;
    this.ln_wo_grad = this.child('ln_wo_grad', new RMSNorm(F, C, cfg.normEps));
    this.ada_lin = this.child('ada_lin.1', new Linear(F, C, 6 * C));
    this.attn = this.child('attn', new SelfAttention(F, C, cfg.numHeads, cfg.attnL2Norm, 'qkv_proj'));
    // SwiGLU width: 2/3 of mlpRatio·C, rounded up to a multiple of 256.
    const hidden = Math.floor(Math.trunc((C * cfg.mlpRatio * 2) / 3 + 255) / 256) * 256;
    this.ffn = this.child('ffn', new LlamaMLP(F, C, hidden));
  }

  /** The block's AdaLN modulation (B, 1, 6, C) from the pooled condition; constant over a sample's steps. */
  modulation(pooled_B1C: Tensor): Tensor {
    return this.F.reshape(this.ada_lin.forward(this.F.silu(pooled_B1C)), [-1, 1, 6, this.cfg.embedDim]);
  }

  forward(x_BLC: Tensor, ada_B16C: Tensor, call: AttentionCall): { x_BLC: Tensor; k_BHLd: Tensor; v_BHLd: Tensor } {
    const F = this.F;
    const C = this.cfg.embedDim;
    const [gamma1, gamma2, scale1, scale2, shift1, shift2] = F.split(ada_B16C, [1, 1, 1, 1, 1, 1], 2).map((t) => F.reshape(t, [-1, 1, C]));
    const attn = this.attn.forward(F.add(F.mul(this.ln_wo_grad.forward(x_BLC), F.add(scale1, 1)), shift1), call);
    const x1 = F.add(x_BLC, F.mul(attn.out_BLC, gamma1));
    const x2 = F.add(x1, F.mul(this.ffn.forward(F.add(F.mul(this.ln_wo_grad.forward(x1), F.add(scale2, 1)), shift2)), gamma2));
    return { x_BLC: x2, k_BHLd: attn.k_BHLd, v_BHLd: attn.v_BHLd };
  }
}

/** A chunk of the sequence fed to the blocks: optionally the context tokens, then image tokens. */
export interface HartChunk {
  /** Context tokens after `context_embed` (B, T, C): the condition of every block. */
  cond_BTC: Tensor;
  /** 1 for real context tokens, (B, T) bool/float; used by `avg` pooling. */
  contextMask_BT?: Tensor;
  /** Context position ids, int32 (B, T); the last one offsets the image positions. */
  contextPos_BT: Tensor;
  /** Whether the chunk starts with the T context tokens. */
  withContext: boolean;
  /** Inputs of image tokens (B, N, Cvae), or none. */
  x_BNCv?: Tensor;
  /** Index of each image token in the image sequence (scales 1..SN−1), int32 (B, N); default 0..N−1. */
  imageIndex_BN?: Tensor;
  mask?: Tensor;
  past?: BlockKv;
  /** The blocks' modulations from an earlier chunk of the same samples (`modulations`); computed when absent. */
  ada?: readonly Tensor[];
}

export class HartTransformer extends Module {
  readonly T: number;
  /** Tokens of scales 1..SN−1, i.e. the image part of the teacher-forced sequence. */
  readonly imageL: number;
  readonly levels: Int32Array;
  readonly word_embed: Linear;
  readonly context_embed: Linear | undefined;
  readonly context_norm: RMSNorm | undefined;
  readonly class_emb: Embedding | undefined;
  readonly lvl_embed: TimestepEmbedder | Embedding;
  readonly blocks: HartBlock[];
  readonly decoder_norm: RMSNorm;

  constructor(F: Engine, readonly cfg: HartTransformerConfig) {
    super(F);
    const C = cfg.embedDim;
    this.T = cfg.contextTokens;
    this.levels = levelsOf(levelBlockSizes(cfg.patchNums, this.T));
    this.imageL = this.levels.length - this.T;
    this.word_embed = this.child('word_embed', new Linear(F, cfg.vocabEmbedDim, C));
    const cond = cfg.conditioning;
    if (cond.kind === 'context') {
      this.context_embed = this.child('context_embed', new Linear(F, cond.contextDim, C));
      if (cond.contextNorm) this.context_norm = this.child('context_norm', new RMSNorm(F, cond.contextDim, cfg.normEps));
    } else {
      this.class_emb = this.child('class_emb', new Embedding(F, cond.classes + 1, C));
    }
    this.lvl_embed = this.child('lvl_embed', cfg.timestepLevelEmbed ? new TimestepEmbedder(F, C) : new Embedding(F, cfg.patchNums.length, C));
    this.blocks = this.list('blocks', Array.from({ length: cfg.depth }, () => new HartBlock(F, cfg)));
    this.decoder_norm = this.child('decoder_norm', new RMSNorm(F, C, cfg.normEps));
    const L = this.levels.length;
    this.buffer('lvl_1L', [1, L], () => Float32Array.from(this.levels));
    this.buffer('attn_bias_for_masking', [1, 1, L, L], () => blockCausalBias(this.levels));
  }

  /** Loads HART weights; absent derivable buffers (`lvl_1L`, `attn_bias_for_masking`) are computed. */
  override loadStateDict(weights: ReadonlyMap<string, HostTensor>, options: LoadOptions = {}): void {
    const prefix = options.prefix ?? '';
    const L = this.levels.length;
    const filled = new Map(weights);
    if (!filled.has(`${prefix}lvl_1L`)) filled.set(`${prefix}lvl_1L`, { dtype: 'int32', shape: [1, L], data: Int32Array.from(this.levels) });
    if (!filled.has(`${prefix}attn_bias_for_masking`)) filled.set(`${prefix}attn_bias_for_masking`, { dtype: 'float32', shape: [1, 1, L, L], data: blockCausalBias(this.levels) });
    super.loadStateDict(filled, options);
  }

  /** Context tokens from text features (B, T, Dctx): `context_embed(context_norm(context))`. */
  contextCondition(context_BTD: Tensor): Tensor {
    if (!this.context_embed) throw new TesseraError('CONFIG_INVALID', 'this HART transformer is class-conditioned (`class_emb`); it has no `context_embed` for text features');
    const normed = this.context_norm ? this.context_norm.forward(context_BTD) : context_BTD;
    return this.context_embed.forward(normed);
  }

  /** Class-conditioned form: one context token per label, (B, 1, C). */
  classCondition(labels_B: Tensor): Tensor {
    if (!this.class_emb) throw new TesseraError('CONFIG_INVALID', 'this HART transformer is text-conditioned (`context_embed`); it has no `class_emb` for labels');
    return this.F.expandDims(this.class_emb.forward(labels_B), 1);
  }

  /** The blocks' AdaLN condition (`context_pooling`), (B, 1, C). */
  pooledCondition(cond_BTC: Tensor, contextMask_BT?: Tensor): Tensor {
    const F = this.F;
    if (cond_BTC.shape[1] === 1) return cond_BTC;
    if (this.cfg.pooling === 'max' || !contextMask_BT) return F.max(cond_BTC, 1, true);
    const m_BT1 = F.expandDims(F.cast(contextMask_BT, 'float32'), 2);
    const count_B11 = F.maximum(F.sum(m_BT1, 1, true), 1);
    return F.sum(F.div(F.mul(cond_BTC, m_BT1), count_B11), 1, true);
  }

  /** The head's AdaLN condition: max over the context tokens (mask ignored), (B, C). */
  headCondition(cond_BTC: Tensor): Tensor {
    return this.F.max(cond_BTC, 1);
  }

  /** Level embeddings of the given levels, (n, C). */
  private levelEmbedding(levels: Int32Array): Tensor {
    if (this.lvl_embed instanceof TimestepEmbedder) return this.lvl_embed.forward([...levels]);
    return this.lvl_embed.forward(this.F.tensor(levels, [levels.length], 'int32'));
  }

  /** Runs the blocks over one chunk; returns the last block's output and the keys/values to cache. */
  forward(chunk: HartChunk): { hidden_BLC: Tensor; xIn_BLC: Tensor; kv: BlockKv; ada: readonly Tensor[] } {
    const F = this.F;
    const hd = this.cfg.embedDim / this.cfg.numHeads;
    const tokens: Tensor[] = [];
    const rotary: Rotary[] = [];
    if (chunk.withContext) {
      const lvl0_C = F.reshape(this.levelEmbedding(new Int32Array([0])), [1, 1, -1]);
      tokens.push(F.add(chunk.cond_BTC, lvl0_C));
      rotary.push(contextRotary(F, chunk.contextPos_BT, hd));
    }
    if (chunk.x_BNCv && chunk.x_BNCv.shape[1] > 0) {
      const [B, N] = chunk.x_BNCv.shape;
      const index_BN = chunk.imageIndex_BN ?? F.broadcastTo(F.reshape(F.arange(0, N), [1, N]), [B, N]);
      // Level of each image token, via a per-level table (SN, C) gathered by level.
      const lvlTable_SC = this.levelEmbedding(Int32Array.from(this.cfg.patchNums.keys()));
      const imageLevels = F.tensor(this.levels.subarray(this.T), [this.imageL], 'int32');
      const lvl_BNC = F.gather(lvlTable_SC, F.gather(imageLevels, index_BN, 0), 0);
      tokens.push(F.add(this.word_embed.forward(chunk.x_BNCv), lvl_BNC));
      rotary.push(imageRotary(F, imagePositions(F, this.cfg.patchNums, chunk.contextPos_BT, index_BN), hd));
    }
    const xIn_BLC = F.concat(tokens, 1);
    const ada = chunk.ada ?? this.modulations(chunk.cond_BTC, chunk.contextMask_BT);
    const call = { mask: chunk.mask, rotary: concatRotary(F, rotary) };
    const kv: BlockKv = [];
    let x = xIn_BLC;
    this.blocks.forEach((block, i) => {
      const r = block.forward(x, ada[i], { ...call, past: chunk.past?.[i] });
      x = r.x_BLC;
      kv.push({ k_BHLd: r.k_BHLd, v_BHLd: r.v_BHLd });
    });
    return { hidden_BLC: x, xIn_BLC, kv, ada };
  }

  /** Every block's AdaLN modulation (B, 1, 6, C) from the pooled context (`pooledCondition`). */
  modulations(cond_BTC: Tensor, contextMask_BT?: Tensor): Tensor[] {
    const pooled_B1C = this.pooledCondition(cond_BTC, contextMask_BT);
    return this.blocks.map((b) => b.modulation(pooled_B1C));
  }

  /** The diffusion head's condition (§4.6): decoder_norm(hidden + word_embed(code vectors)). */
  diffusionCondition(hidden_BNC: Tensor, codes_BNCv: Tensor): Tensor {
    return this.decoder_norm.forward(this.F.add(hidden_BNC, this.word_embed.forward(codes_BNCv)));
  }
}
