/**
 * The pre-norm ViT block of timm 0.9.12 (`timm.models.vision_transformer.Block`), as MAR
 * and FAR build it (spec/mar.md §4.3): `x + proj(attn(LN1 x))`, then
 * `x + fc2(GELU(fc1(LN2 x)))`; qkv with bias, exact-erf GELU, fully bidirectional
 * attention, LayerScale and DropPath identities. Parameter names are timm's
 * (`norm1`, `attn.qkv`, `attn.proj`, `norm2`, `mlp.fc1`, `mlp.fc2`).
 *
 * Dropout (attention weights, after `proj`, after the GELU, after `fc2`) runs only when
 * the caller passes a draw source, i.e. in training; its keep masks come from
 * `draws.uniform`, so a seeded run stays reproducible.
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import { Module, Parameter } from '../../nn/module';
import { LayerNorm, Linear } from '../../nn/layers';
import { xavierUniform, zeros } from '../../nn/init';
import type { DrawSource } from '../../rng/draws';

/** nn.Linear with the JAX-ViT init MAR applies to every Linear (xavier-uniform weight, zero bias). */
export class XavierLinear extends Linear {
  constructor(F: Engine, inFeatures: number, outFeatures: number) {
    super(F, inFeatures, outFeatures, true, { weight: xavierUniform, bias: zeros });
  }
}

/** Inverted dropout with a keep mask drawn from `draws` (torch.nn.Dropout semantics). */
export function dropout(F: Engine, x: Tensor, p: number, draws: DrawSource | undefined): Tensor {
  if (!draws || p <= 0) return x;
  const u = draws.uniform(x.shape, 'dropout');
  const keep = new Float32Array(u.length);
  const scale = 1 / (1 - p);
  for (let i = 0; i < u.length; i++) keep[i] = u[i] >= p ? scale : 0;
  return F.mul(x, F.tensor(keep, x.shape));
}

export interface VitBlockOptions {
  dim: number;
  numHeads: number;
  mlpRatio: number;
  normEps: number;
  attnDropout: number;
  projDropout: number;
}

class Attention extends Module {
  readonly qkv: XavierLinear;
  readonly proj: XavierLinear;

  constructor(F: Engine, private readonly o: VitBlockOptions) {
    super(F);
    this.qkv = this.child('qkv', new XavierLinear(F, o.dim, 3 * o.dim));
    this.proj = this.child('proj', new XavierLinear(F, o.dim, o.dim));
  }

  forward(x_BND: Tensor, draws?: DrawSource): Tensor {
    const F = this.F;
    const [B, N, D] = x_BND.shape;
    const H = this.o.numHeads;
    const dh = D / H;
    // [B, N, 3D] -> [B, N, 3, H, dh] -> [3, B, H, N, dh]: q, k, v blocks, heads contiguous
    const qkv_3BHNd = F.transpose(F.reshape(this.qkv.forward(x_BND), [B, N, 3, H, dh]), [2, 0, 3, 1, 4]);
    const [q, k, v] = F.split(qkv_3BHNd, [1, 1, 1], 0).map((t) => F.reshape(t, [B, H, N, dh]));
    let o_BHNd: Tensor;
    if (draws && this.o.attnDropout > 0) {
      const att_BHNN = F.softmax(F.mul(F.matmul(q, k, false, true), 1 / Math.sqrt(dh)), -1);
      o_BHNd = F.matmul(dropout(F, att_BHNN, this.o.attnDropout, draws), v);
    } else {
      o_BHNd = F.attention(q, k, v);
    }
    const o_BND = F.reshape(F.transpose(o_BHNd, [0, 2, 1, 3]), [B, N, D]); // heads concatenated in order
    return dropout(F, this.proj.forward(o_BND), this.o.projDropout, draws);
  }
}

class Mlp extends Module {
  readonly fc1: XavierLinear;
  readonly fc2: XavierLinear;

  constructor(F: Engine, private readonly o: VitBlockOptions) {
    super(F);
    const hidden = Math.floor(o.dim * o.mlpRatio);
    this.fc1 = this.child('fc1', new XavierLinear(F, o.dim, hidden));
    this.fc2 = this.child('fc2', new XavierLinear(F, hidden, o.dim));
  }

  forward(x: Tensor, draws?: DrawSource): Tensor {
    const F = this.F;
    const h = dropout(F, F.gelu(this.fc1.forward(x), 'none'), this.o.projDropout, draws);
    return dropout(F, this.fc2.forward(h), this.o.projDropout, draws);
  }
}

/** One timm ViT block over [B, N, D]. */
export class VitBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;

  constructor(F: Engine, o: VitBlockOptions) {
    super(F);
    this.norm1 = this.child('norm1', new LayerNorm(F, o.dim, o.normEps));
    this.attn = this.child('attn', new Attention(F, o));
    this.norm2 = this.child('norm2', new LayerNorm(F, o.dim, o.normEps));
    this.mlp = this.child('mlp', new Mlp(F, o));
  }

  /** `draws` present = training mode (dropout active). */
  forward(x_BND: Tensor, draws?: DrawSource): Tensor {
    const F = this.F;
    const x = F.add(x_BND, this.attn.forward(this.norm1.forward(x_BND), draws));
    return F.add(x, this.mlp.forward(this.norm2.forward(x), draws));
  }
}
