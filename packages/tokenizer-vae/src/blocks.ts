/**
 * The convolutional building blocks of the LDM KL autoencoder (spec/mar.md §2.1), as
 * LTH14/mar `models/vae.py` defines them: `ResnetBlock` without a time embedding,
 * single-head spatial `AttnBlock`, `Downsample` (pad right/bottom, 3×3 stride-2 conv) and
 * `Upsample` (nearest ×2, 3×3 conv). Parameter names are the official state_dict keys.
 * GroupNorm always uses 32 groups and eps 1e-6; the nonlinearity is swish.
 */
import { Conv2d, GroupNorm, Module, TesseraError } from '@tessera/core';
import type { Engine, Tensor } from '@tessera/core';

const NORM_GROUPS = 32;
const NORM_EPS = 1e-6;

/** `Normalize(c)` of the official code; refuses channel counts GroupNorm(32) cannot split. */
export function normalize(F: Engine, channels: number): GroupNorm {
  if (channels % NORM_GROUPS !== 0) {
    throw new TesseraError('CONFIG_INVALID', `the autoencoder normalises with GroupNorm(${NORM_GROUPS}), so every width must be a multiple of ${NORM_GROUPS}; got ${channels} channels. Pick \`baseChannels\` and \`channelMultipliers\` whose products are multiples of ${NORM_GROUPS}.`, {
      subject: 'tokenizer/vae', data: { channels, groups: NORM_GROUPS },
    });
  }
  return new GroupNorm(F, NORM_GROUPS, channels, NORM_EPS);
}

const conv3x3 = (F: Engine, cin: number, cout: number): Conv2d => new Conv2d(F, cin, cout, 3, { padding: 1 });
const conv1x1 = (F: Engine, cin: number, cout: number): Conv2d => new Conv2d(F, cin, cout, 1);

/** norm → swish → conv, twice, plus a (1×1-projected when widths differ) shortcut. */
export class ResnetBlock extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly ninShortcut: Conv2d | undefined;

  constructor(F: Engine, readonly inChannels: number, readonly outChannels: number) {
    super(F);
    this.norm1 = this.child('norm1', normalize(F, inChannels));
    this.conv1 = this.child('conv1', conv3x3(F, inChannels, outChannels));
    this.norm2 = this.child('norm2', normalize(F, outChannels));
    this.conv2 = this.child('conv2', conv3x3(F, outChannels, outChannels));
    this.ninShortcut = inChannels !== outChannels ? this.child('nin_shortcut', conv1x1(F, inChannels, outChannels)) : undefined;
  }

  forward(x_BChw: Tensor): Tensor {
    const F = this.F;
    let h = this.conv1.forward(F.silu(this.norm1.forward(x_BChw)));
    h = this.conv2.forward(F.silu(this.norm2.forward(h)));
    const shortcut = this.ninShortcut ? this.ninShortcut.forward(x_BChw) : x_BChw;
    return F.add(shortcut, h);
  }
}

/** Single-head self-attention over the h·w positions, scaled by channels^-1/2, residual. */
export class AttnBlock extends Module {
  readonly norm: GroupNorm;
  readonly q: Conv2d;
  readonly k: Conv2d;
  readonly v: Conv2d;
  readonly projOut: Conv2d;

  constructor(F: Engine, readonly channels: number) {
    super(F);
    this.norm = this.child('norm', normalize(F, channels));
    this.q = this.child('q', conv1x1(F, channels, channels));
    this.k = this.child('k', conv1x1(F, channels, channels));
    this.v = this.child('v', conv1x1(F, channels, channels));
    this.projOut = this.child('proj_out', conv1x1(F, channels, channels));
  }

  forward(x_BChw: Tensor): Tensor {
    const F = this.F;
    const [B, C, h, w] = x_BChw.shape;
    const n_BChw = this.norm.forward(x_BChw);
    // [B, C, h, w] -> [B, 1, h*w, C]: one head whose feature axis is the channel axis
    const toHeads = (t_BChw: Tensor): Tensor => F.reshape(F.transpose(F.reshape(t_BChw, [B, C, h * w]), [0, 2, 1]), [B, 1, h * w, C]);
    const o_B1LC = F.attention(toHeads(this.q.forward(n_BChw)), toHeads(this.k.forward(n_BChw)), toHeads(this.v.forward(n_BChw)), { scale: C ** -0.5 });
    // [B, 1, h*w, C] -> [B, C, h, w]
    const o_BChw = F.reshape(F.transpose(F.reshape(o_B1LC, [B, h * w, C]), [0, 2, 1]), [B, C, h, w]);
    return F.add(x_BChw, this.projOut.forward(o_BChw));
  }
}

/** Zero-pads one pixel at the right and bottom, then a 3×3 stride-2 conv without padding. */
export class Downsample extends Module {
  readonly conv: Conv2d;

  constructor(F: Engine, channels: number) {
    super(F);
    this.conv = this.child('conv', new Conv2d(F, channels, channels, 3, { stride: 2, padding: 0 }));
  }

  forward(x_BChw: Tensor): Tensor {
    const padded = this.F.pad(x_BChw, [[0, 0], [0, 0], [0, 1], [0, 1]]);
    return this.conv.forward(padded);
  }
}

/** Nearest-neighbour ×2 (each pixel becomes a 2×2 block), then a 3×3 conv. */
export class Upsample extends Module {
  readonly conv: Conv2d;

  constructor(F: Engine, channels: number) {
    super(F);
    this.conv = this.child('conv', conv3x3(F, channels, channels));
  }

  forward(x_BChw: Tensor): Tensor {
    const F = this.F;
    const [B, C, h, w] = x_BChw.shape;
    // Exact copies, cheaper than a resize matmul; rank ≤ 4 throughout because tfjs has no tile gradient beyond it.
    const cols = F.broadcastTo(F.reshape(x_BChw, [B * C * h, w, 1]), [B * C * h, w, 2]); // (B*C*h, w, 2)
    const rows = F.broadcastTo(F.reshape(cols, [B * C * h, 1, 2 * w]), [B * C * h, 2, 2 * w]); // (B*C*h, 2, 2w)
    return this.conv.forward(F.reshape(rows, [B, C, 2 * h, 2 * w]));
  }
}
