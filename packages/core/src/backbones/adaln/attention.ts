/**
 * VAR's `SelfAttention` (spec/var.md §5.6; FoundationVision/VAR `models/basic_var.py`),
 * shared by HART's `LlamaAttention` (spec/hart.md §4.4; mit-han-lab/hart
 * `hart/modules/networks/basic_hart.py`), which differs only in the name of the qkv
 * projection and in rotating q and k (RoPE) after the optional L2 normalisation.
 *
 * qkv = x·Wᵀ + [q_bias; 0; v_bias] (the key bias is an all-zero buffer). With
 * `attn_l2_norm` q and k are unit vectors per head, q is multiplied by
 * exp(min(scale_mul, ln 100)) and the softmax scale is 1; without it the scale is a
 * quarter of the usual 1/√dh (an official quirk). Keys and values of earlier positions
 * may come from a KV cache; the caller receives the concatenated ones to cache.
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import { Linear } from '../../nn/layers';
import { Module, Parameter } from '../../nn/module';
import { constant, zeros } from '../../nn/init';

/** ln(100) as torch computes it in float32 and hands back as a Python float. */
const MAX_SCALE_MUL = Math.fround(Math.log(100));

/** cos/sin tables [B, L, dh] of rotary position embedding (HF `rotate_half` convention). */
export interface Rotary {
  cos_BLd: Tensor;
  sin_BLd: Tensor;
}

export interface AttentionCall {
  /** Additive mask broadcastable to [B, H, Lq, Lk] (0 keeps, -Infinity drops). */
  mask?: Tensor;
  rotary?: Rotary;
  /** Keys and values of earlier positions, [B, H, Lc, dh] each. */
  past?: { k_BHLd: Tensor; v_BHLd: Tensor };
  /**
   * With `past` a fixed-capacity cache [B, H, Lcap, dh]: where the new (single) position
   * goes, one-hot [1, 1, Lcap, 1]; the new key and value are written there instead of
   * appended, and `mask` hides the slots not filled yet (fixed-cache.ts).
   */
  slot?: Tensor;
}

export interface AttentionResult {
  out_BLC: Tensor;
  /** Keys and values of every position seen so far (past + new). */
  k_BHLd: Tensor;
  v_BHLd: Tensor;
}

export class SelfAttention extends Module {
  readonly headDim: number;
  readonly qkv: Linear;
  readonly q_bias: Parameter;
  readonly v_bias: Parameter;
  readonly zero_k_bias: Parameter;
  readonly proj: Linear;
  readonly scale_mul_1H11: Parameter | undefined;

  constructor(F: Engine, readonly embedDim: number, readonly numHeads: number, readonly l2Norm: boolean, qkvName: 'mat_qkv' | 'qkv_proj') {
    super(F);
    this.headDim = embedDim / numHeads;
    this.qkv = this.child(qkvName, new Linear(F, embedDim, 3 * embedDim, false));
    this.q_bias = this.param('q_bias', [embedDim], zeros);
    this.v_bias = this.param('v_bias', [embedDim], zeros);
    this.zero_k_bias = this.buffer('zero_k_bias', [embedDim], zeros);
    this.proj = this.child('proj', new Linear(F, embedDim, embedDim));
    this.scale_mul_1H11 = l2Norm ? this.param('scale_mul_1H11', [1, numHeads, 1, 1], constant(Math.log(4))) : undefined;
  }

  forward(x_BLC: Tensor, call: AttentionCall = {}): AttentionResult {
    const F = this.F;
    const [B, L, C] = x_BLC.shape;
    const H = this.numHeads, dh = this.headDim;
    const bias = F.concat([this.q_bias.value, this.zero_k_bias.value, this.v_bias.value], 0);
    const qkv_BL3Hd = F.reshape(F.linear(x_BLC, this.qkv.weight.value, bias), [B, L, 3, H, dh]);
    const qkv_3BHLd = F.transpose(qkv_BL3Hd, [2, 0, 3, 1, 4]); // (3, B, H, L, dh)
    let [q, k] = F.split(qkv_3BHLd, [1, 1, 1], 0).map((t) => F.reshape(t, [B, H, L, dh]));
    let v = F.reshape(F.slice(qkv_3BHLd, [2, 0, 0, 0, 0], [1, B, H, L, dh]), [B, H, L, dh]);
    let scale = 0.25 / Math.sqrt(dh);
    if (this.scale_mul_1H11) {
      const scaleMul_1H11 = F.exp(F.minimum(this.scale_mul_1H11.value, MAX_SCALE_MUL));
      q = F.mul(l2Normalize(F, q), scaleMul_1H11);
      k = l2Normalize(F, k);
      scale = 1;
    }
    if (call.rotary) {
      const cos_B1Ld = F.expandDims(call.rotary.cos_BLd, 1);
      const sin_B1Ld = F.expandDims(call.rotary.sin_BLd, 1);
      q = applyRotary(F, q, cos_B1Ld, sin_B1Ld);
      k = applyRotary(F, k, cos_B1Ld, sin_B1Ld);
    }
    if (call.past && call.slot) {
      const keep = F.sub(1, call.slot);
      k = F.add(F.mul(call.past.k_BHLd, keep), F.mul(k, call.slot));
      v = F.add(F.mul(call.past.v_BHLd, keep), F.mul(v, call.slot));
    } else if (call.past) {
      k = F.concat([call.past.k_BHLd, k], 2);
      v = F.concat([call.past.v_BHLd, v], 2);
    }
    // (q·scale)·kᵀ, as the official non-flash path computes it.
    const q_scaled = scale === 1 ? q : F.mul(q, scale);
    const o_BHLd = F.attention(q_scaled, k, v, { mask: call.mask, scale: 1 });
    const o_BLC = F.reshape(F.transpose(o_BHLd, [0, 2, 1, 3]), [B, L, C]); // (B, L, H, dh) -> (B, L, C)
    return { out_BLC: this.proj.forward(o_BLC), k_BHLd: k, v_BHLd: v };
  }
}

/** torch.nn.functional.normalize over the last axis: x / max(‖x‖, 1e-12). */
export function l2Normalize(F: Engine, x: Tensor): Tensor {
  const norm = F.sqrt(F.sum(F.square(x), -1, true));
  return F.div(x, F.maximum(norm, 1e-12));
}

/** HF `rotate_half`: [x1, x2] -> [-x2, x1] over the whole last axis. */
export function rotateHalf(F: Engine, x: Tensor): Tensor {
  const d = x.shape[x.shape.length - 1];
  const [x1, x2] = F.split(x, [d / 2, d / 2], -1);
  return F.concat([F.neg(x2), x1], -1);
}

/** x·cos + rotate_half(x)·sin. */
export function applyRotary(F: Engine, x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return F.add(F.mul(x, cos), F.mul(rotateHalf(F, x), sin));
}
