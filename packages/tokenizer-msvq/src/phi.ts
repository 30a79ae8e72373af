/**
 * φ ("quant_resi"), the residual-mixing convolutions of VAR's multi-scale quantizer
 * (spec/var.md §3.2–3.3; official `models/quant.py`: Phi, PhiShared, PhiPartiallyShared,
 * PhiNonShared). φ(h) = (1 − r)·h + r·(conv3x3(h) + b) with r = |quant_resi|.
 *
 * Which φ serves scale k of SN is decided by the nearest of K "ticks" to k/(SN − 1), and
 * the ticks are built exactly as numpy's linspace builds them, in IEEE double: several
 * (K, SN) pairs sit exactly half way between two ticks in exact arithmetic, and only the
 * float rounding of that construction reproduces the official choice (SN = 10, K = 4 gives
 * 0 0 1 1 1 2 2 3 3 3).
 */
import { Conv2d, Module, TesseraError } from '@tessera/core';
import type { Engine, Tensor } from '@tessera/core';

/** How the φ convolutions are shared across scales (the official `share_quant_resi`). */
export type PhiSharing =
  | { mode: 'shared' } // share_quant_resi = 1: one φ for every scale
  | { mode: 'partial'; count: number } // share_quant_resi >= 2: `count` φ's chosen by tick
  | { mode: 'nonshared'; count: number }; // share_quant_resi = 0: one φ per scale (or default_qresi_counts)

/** Below this |quant_resi| every φ is the identity and has no parameters (official threshold). */
export const PHI_IDENTITY_THRESHOLD = 1e-6;

/** The official `share_quant_resi` / `default_qresi_counts` pair as a sharing mode. */
export function phiSharing(shareQuantResi: number, defaultQresiCounts: number, scales: number): PhiSharing {
  if (!Number.isInteger(shareQuantResi) || shareQuantResi < 0) {
    throw new TesseraError('CONFIG_INVALID', `\`shareQuantResi\` must be an integer >= 0, got ${shareQuantResi}`, { subject: 'tokenizer/msvq', data: { shareQuantResi } });
  }
  if (shareQuantResi === 0) return { mode: 'nonshared', count: defaultQresiCounts || scales };
  if (shareQuantResi === 1) return { mode: 'shared' };
  return { mode: 'partial', count: shareQuantResi };
}

/** numpy.linspace(start, 1 − start, K) with start = 1/3/K when K = 4, else 1/2/K. */
export function phiTicks(K: number): number[] {
  const start = K === 4 ? 1 / 3 / K : 1 / 2 / K;
  const stop = K === 4 ? 1 - 1 / 3 / K : 1 - 1 / 2 / K;
  if (K === 1) return [start];
  const step = (stop - start) / (K - 1);
  const ticks = Array.from({ length: K }, (_, i) => i * step + start);
  ticks[K - 1] = stop;
  return ticks;
}

/**
 * Index of the φ used at scale `si` of `SN` among `K` tick-selected φ's: the first tick
 * nearest to si/(SN − 1). A single scale (SN = 1, a division by zero in the official
 * code) uses position 0.
 */
export function phiIndex(K: number, si: number, SN: number): number {
  const u = SN > 1 ? si / (SN - 1) : 0;
  const ticks = phiTicks(K);
  let best = 0;
  for (let i = 1; i < K; i++) if (Math.abs(ticks[i] - u) < Math.abs(ticks[best] - u)) best = i;
  return best;
}

/** One φ: a 3x3 conv (keys `weight`, `bias`) mixed with its input by ratio r. */
export class Phi extends Conv2d {
  constructor(F: Engine, channels: number, readonly ratio: number) {
    super(F, channels, channels, 3, { padding: 1 });
  }

  override forward(h_BChw: Tensor): Tensor {
    const F = this.F;
    return F.add(F.mul(h_BChw, 1 - this.ratio), F.mul(super.forward(h_BChw), this.ratio));
  }
}

/** The `quant_resi` module: its φ's under the official keys, and the per-scale choice. */
export class PhiBank extends Module {
  private readonly phis: Phi[] = [];
  /** φ count that ticks choose among (1 for shared). */
  readonly count: number;

  constructor(F: Engine, channels: number, quantResi: number, readonly sharing: PhiSharing) {
    super(F);
    this.count = sharing.mode === 'shared' ? 1 : sharing.count;
    if (this.count < 1) throw new TesseraError('CONFIG_INVALID', `the quantizer needs at least one φ, got ${this.count}`, { subject: 'tokenizer/msvq' });
    if (Math.abs(quantResi) <= PHI_IDENTITY_THRESHOLD) return; // identity φ's: no parameters
    const ratio = Math.abs(quantResi);
    const make = (): Phi => new Phi(F, channels, ratio);
    if (sharing.mode === 'shared') this.phis.push(this.child('qresi', make()));
    else if (sharing.mode === 'partial') this.phis.push(...this.list('qresi_ls', Array.from({ length: this.count }, make)));
    else for (let j = 0; j < this.count; j++) this.phis.push(this.child(String(j), make()));
  }

  /** Whether every φ is the identity (|quant_resi| <= 1e-6). */
  get identity(): boolean {
    return this.phis.length === 0;
  }

  /** Index of the φ serving scale `si` of `SN` (what the `var.quant.phi_select` fixture records). */
  indexFor(si: number, SN: number): number {
    return this.sharing.mode === 'shared' ? 0 : phiIndex(this.count, si, SN);
  }

  /** φ_{sel(si)}(h). */
  apply(h_BChw: Tensor, si: number, SN: number): Tensor {
    if (this.identity) return h_BChw;
    return this.phis[this.indexFor(si, SN)].forward(h_BChw);
  }
}
