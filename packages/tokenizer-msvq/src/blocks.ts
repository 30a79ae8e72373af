/**
 * The convolutional building blocks of VAR's VQVAE (spec/var.md §4.1; official
 * `models/basic_vae.py`, itself the taming / latent-diffusion autoencoder): ResnetBlock,
 * single-head AttnBlock over all H·W positions, Downsample2x (pad right/bottom, stride-2
 * conv) and Upsample2x (nearest ×2, conv). GroupNorm always has 32 groups and eps 1e-6;
 * the non-linearity is SiLU. Dropout (p = 0 in every released model) is the identity.
 * Parameter names are the official state_dict keys.
 */
import { Conv2d, GroupNorm, Module } from '@tessera/core';
import type { Engine, Tensor } from '@tessera/core';

const GROUPS = 32;
const EPS = 1e-6;

/** `Normalize(c)` of the official code. */
export const normalize = (F: Engine, channels: number): GroupNorm => new GroupNorm(F, GROUPS, channels, EPS);

/** Two GN → SiLU → conv3x3 layers with a (1x1-conv when channels change) shortcut. */
export class ResnetBlock extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly ninShortcut: Conv2d | undefined;

  constructor(F: Engine, readonly inChannels: number, readonly outChannels: number) {
    super(F);
    this.norm1 = this.child('norm1', normalize(F, inChannels));
    this.conv1 = this.child('conv1', new Conv2d(F, inChannels, outChannels, 3, { padding: 1 }));
    this.norm2 = this.child('norm2', normalize(F, outChannels));
    this.conv2 = this.child('conv2', new Conv2d(F, outChannels, outChannels, 3, { padding: 1 }));
    this.ninShortcut = inChannels !== outChannels ? this.child('nin_shortcut', new Conv2d(F, inChannels, outChannels, 1)) : undefined;
  }

  forward(x_BCHW: Tensor): Tensor {
    const F = this.F;
    const h1 = this.conv1.forward(F.silu(this.norm1.forward(x_BCHW)));
    const h2 = this.conv2.forward(F.silu(this.norm2.forward(h1)));
    return F.add(this.ninShortcut ? this.ninShortcut.forward(x_BCHW) : x_BCHW, h2);
  }
}

/** Single-head self-attention over the H·W positions of a feature map, with a residual. */
export class AttnBlock extends Module {
  readonly norm: GroupNorm;
  readonly qkv: Conv2d;
  readonly projOut: Conv2d;

  constructor(F: Engine, readonly channels: number) {
    super(F);
    this.norm = this.child('norm', normalize(F, channels));
    this.qkv = this.child('qkv', new Conv2d(F, channels, 3 * channels, 1));
    this.projOut = this.child('proj_out', new Conv2d(F, channels, channels, 1));
  }

  forward(x_BCHW: Tensor): Tensor {
    const F = this.F;
    const [B, C, H, W] = x_BCHW.shape;
    const qkv_B3CL = F.reshape(this.qkv.forward(this.norm.forward(x_BCHW)), [B, 3, C, H * W]); // q, k, v stacked on axis 1
    const perHead = (i: number): Tensor => F.reshape(F.transpose(F.slice(qkv_B3CL, [0, i, 0, 0], [B, 1, C, H * W]), [0, 1, 3, 2]), [B, 1, H * W, C]); // (B, 1, HW, C)
    // softmax over keys of q·k · C^-1/2, exactly the official bmm(q, k) * w_ratio
    const h_B1LC = F.attention(perHead(0), perHead(1), perHead(2), { scale: C ** -0.5 });
    const h_BCHW = F.reshape(F.transpose(F.reshape(h_B1LC, [B, H * W, C]), [0, 2, 1]), [B, C, H, W]); // (B, HW, C) -> (B, C, H, W)
    return F.add(x_BCHW, this.projOut.forward(h_BCHW));
  }
}

/** Zero-pads right and bottom by one (not symmetric), then a stride-2 3x3 conv. */
export class Downsample2x extends Module {
  readonly conv: Conv2d;

  constructor(F: Engine, channels: number) {
    super(F);
    this.conv = this.child('conv', new Conv2d(F, channels, channels, 3, { stride: 2, padding: 0 }));
  }

  forward(x_BCHW: Tensor): Tensor {
    return this.conv.forward(this.F.pad(x_BCHW, [[0, 0], [0, 0], [0, 1], [0, 1]]));
  }
}

/** Nearest-neighbour ×2 (pixel duplication), then a 3x3 conv. */
export class Upsample2x extends Module {
  readonly conv: Conv2d;

  constructor(F: Engine, channels: number) {
    super(F);
    this.conv = this.child('conv', new Conv2d(F, channels, channels, 3, { padding: 1 }));
  }

  forward(x_BCHW: Tensor): Tensor {
    const [, , H, W] = x_BCHW.shape;
    return this.conv.forward(this.F.interpolate(x_BCHW, [2 * H, 2 * W], 'nearest'));
  }
}
