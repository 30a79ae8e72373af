/**
 * VAR's multi-scale residual quantizer, `VectorQuantizer2` (paper arXiv 2404.02905 §3.2,
 * Algorithms 1–2; spec/var.md §3; official `models/quant.py`), with HART's hybrid variant
 * (`HARTHybridQuantizer`, spec/hart.md §3.5; official
 * `hart/modules/models/autoencoder/quantize/hart_hybrid_quantize.py`).
 *
 * Encoding keeps a full-resolution residual R = f and, scale by scale, searches the
 * nearest code of area(R, pn_k), up-samples the code map (bicubic) back to full
 * resolution, mixes it through φ and subtracts it from R. The last scale searches R
 * itself. In hybrid mode the last scale's codes are added raw (no φ), and what remains,
 * f − f̂, is the continuous residual token map.
 */
import { Embedding, Module, TesseraError, init, numel } from '@tessera/core';
import type { Engine, HostTensor, LoadOptions, Tensor } from '@tessera/core';
import { PhiBank, PhiSharing } from './phi';

export interface QuantizerConfig {
  vocabSize: number;
  /** Cvae: width of the code vectors and of the latent map. */
  channels: number;
  /** Cosine (normalised) code search instead of squared L2. */
  usingZnorm: boolean;
  /** Commitment weight β of the VQ loss. */
  beta: number;
  patchNums: number[];
  /** φ mixing ratio (sign ignored; |r| <= 1e-6 makes every φ the identity). */
  quantResi: number;
  sharing: PhiSharing;
  /** HART: no φ on the last scale in encode / next-input / decode paths. */
  hybrid: boolean;
}

export interface ScaleTrace {
  idx_Bl: Tensor;
  /** The map searched at this scale (area-down residual; the residual itself at the last). */
  restDown_BChw: Tensor;
  /** Code map up-sampled to full resolution (the code map itself at the last scale). */
  hUp_BChw: Tensor;
  /** After φ (equal to hUp where no φ applies). */
  hPhi_BChw: Tensor;
  /** Cumulative reconstruction after this scale. */
  fHat_BChw: Tensor;
}

export interface EncodeResult {
  indices: Tensor[];
  scales: ScaleTrace[];
  fHat_BChw: Tensor;
  /** Residual before the last scale's codes were subtracted (HART's `last_layer_gt`). */
  restBeforeLast_BChw: Tensor;
  /** Residual after every scale, f − f̂. */
  rest_BChw: Tensor;
}

export interface EncodeOptions {
  /** Another scale list for this call (its length decides φ selection); default the quantizer's. */
  patchNums?: number[];
  /** φ on the last scale; default: not in hybrid mode. */
  phiAtLast?: boolean;
  /** Cosine search; default `usingZnorm`, never in hybrid mode (HART ignores it there). */
  znorm?: boolean;
}

/** sg(·): the same values with no gradient. */
export function detach(F: Engine, x: Tensor): Tensor {
  return F.stopGradient(x);
}

/**
 * The weights with `key` (the code-usage buffer, never used at inference) replaced by zeros
 * when the file was made for another number of scales, as HART's `load_state_dict` does; the
 * released HART tokenizer was trained on another scale list than the one it serves.
 */
export function fitUsageBuffer(weights: ReadonlyMap<string, HostTensor>, key: string, shape: [number, number]): ReadonlyMap<string, HostTensor> {
  const t = weights.get(key);
  if (!t || t.shape[0] === shape[0]) return weights;
  const out = new Map(weights);
  out.set(key, { dtype: 'float32', shape, data: new Float32Array(numel(shape)) });
  return out;
}

export class ResidualQuantizer extends Module {
  readonly embedding: Embedding;
  readonly quantResi: PhiBank;

  constructor(F: Engine, readonly config: QuantizerConfig) {
    super(F);
    const { vocabSize, channels, patchNums, quantResi, sharing } = config;
    this.embedding = this.child('embedding', new Embedding(F, vocabSize, channels));
    this.quantResi = this.child('quant_resi', new PhiBank(F, channels, quantResi, sharing));
    // code-usage statistics of the official VAE training; kept so checkpoints round-trip
    this.buffer('ema_vocab_hit_SV', [patchNums.length, vocabSize], init.zeros);
  }

  override loadStateDict(weights: ReadonlyMap<string, HostTensor>, options: LoadOptions = {}): void {
    const key = `${options.prefix ?? ''}ema_vocab_hit_SV`;
    super.loadStateDict(fitUsageBuffer(weights, key, [this.patchNums.length, this.config.vocabSize]), options);
  }

  get patchNums(): number[] {
    return this.config.patchNums;
  }

  /** Rows (B·h·w, C) of a map, in (b, y, x) order. */
  private rows(x_BChw: Tensor): Tensor {
    return this.F.reshape(this.F.transpose(x_BChw, [0, 2, 3, 1]), [-1, x_BChw.shape[1]]); // (B, h, w, C) -> (Bhw, C)
  }

  /** Nearest code per row: argmin ‖z‖² + ‖e‖² − 2z·e (first on ties), or argmax cosine. */
  nearest(z_NC: Tensor, znorm: boolean, codebook_VC: Tensor = this.embedding.weight.value): Tensor {
    const F = this.F;
    if (znorm) {
      const unit = (x: Tensor): Tensor => F.div(x, F.maximum(F.sqrt(F.sum(F.square(x), 1, true)), 1e-12));
      return F.argmax(F.matmul(unit(z_NC), unit(codebook_VC), false, true), 1);
    }
    const d_NV = F.add(F.sum(F.square(z_NC), 1, true), F.sum(F.square(codebook_VC), 1));
    return F.argmin(F.add(d_NV, F.mul(F.matmul(z_NC, codebook_VC, false, true), -2)), 1);
  }

  /** Code vectors of indices of any shape: (..., C). */
  embed(indices: Tensor): Tensor {
    return this.embedding.forward(indices);
  }

  /** Code map (B, C, pn, pn) of row-major indices (B, pn²). */
  codeMap(idx_Bl: Tensor, pn: number): Tensor {
    const F = this.F;
    const [B, l] = idx_Bl.shape;
    if (l !== pn * pn) throw new TesseraError('SHAPE_MISMATCH', `scale of side ${pn} needs ${pn * pn} tokens per image, got ${l}`, { subject: 'tokenizer/msvq', data: { pn, l } });
    return F.reshape(F.transpose(this.embed(idx_Bl), [0, 2, 1]), [B, this.config.channels, pn, pn]); // (B, l, C) -> (B, C, pn, pn)
  }

  /** Image latents → token maps (f_to_idxBl_or_fhat / f_to_idxBl_and_frest), with every intermediate. */
  encode(f_BChw: Tensor, options: EncodeOptions = {}): EncodeResult {
    const F = this.F;
    const pns = options.patchNums ?? this.patchNums;
    const phiAtLast = options.phiAtLast ?? !this.config.hybrid;
    const znorm = options.znorm ?? (this.config.usingZnorm && !this.config.hybrid);
    const [B, , H, W] = f_BChw.shape;
    const SN = pns.length;
    if (pns[SN - 1] !== H || pns[SN - 1] !== W) {
      throw new TesseraError('SHAPE_MISMATCH', `the last scale (${pns[SN - 1]}) must equal the latent size ${H}x${W}`, { subject: 'tokenizer/msvq', data: { patchNums: pns, H, W } });
    }
    let rest = f_BChw;
    let fHat = F.zeros(f_BChw.shape);
    let restBeforeLast = rest;
    const scales: ScaleTrace[] = [];
    for (let si = 0; si < SN; si++) {
      const pn = pns[si];
      const last = si === SN - 1;
      const restDown = last ? rest : F.interpolate(rest, [pn, pn], 'area');
      const idx_Bl = F.reshape(this.nearest(this.rows(restDown), znorm), [B, pn * pn]);
      const code = this.codeMap(idx_Bl, pn);
      const hUp = last ? code : F.interpolate(code, [H, W], 'bicubic');
      const hPhi = last && !phiAtLast ? hUp : this.quantResi.apply(hUp, si, SN);
      if (last) restBeforeLast = rest;
      fHat = F.add(fHat, hPhi);
      rest = F.sub(rest, hPhi);
      scales.push({ idx_Bl, restDown_BChw: restDown, hUp_BChw: hUp, hPhi_BChw: hPhi, fHat_BChw: fHat });
    }
    return { indices: scales.map((s) => s.idx_Bl), scales, fHat_BChw: fHat, restBeforeLast_BChw: restBeforeLast, rest_BChw: rest };
  }

  /** Tokens → cumulative f̂ after every scale (embed_to_fhat, all_to_max_scale). */
  indicesToFhat(indices: Tensor[], options: { phiAtLast?: boolean } = {}): Tensor[] {
    const F = this.F;
    const pns = this.checkScales(indices);
    const phiAtLast = options.phiAtLast ?? !this.config.hybrid;
    const SN = pns.length;
    const P = pns[SN - 1];
    let fHat = F.zeros([indices[0].shape[0], this.config.channels, P, P]);
    const out: Tensor[] = [];
    for (let si = 0; si < SN; si++) {
      const last = si === SN - 1;
      const code = this.codeMap(indices[si], pns[si]);
      const hUp = last ? code : F.interpolate(code, [P, P], 'bicubic');
      fHat = F.add(fHat, last && !phiAtLast ? hUp : this.quantResi.apply(hUp, si, SN));
      out.push(fHat);
    }
    return out;
  }

  /** Teacher-forcing input (idxBl_to_var_input): area(f̂ after scale k, pn_{k+1}) for k < SN − 1, (B, L − pn_0², C). */
  teacherForcingInput(indices: Tensor[]): Tensor {
    const F = this.F;
    const pns = this.checkScales(indices);
    const SN = pns.length;
    const P = pns[SN - 1];
    const B = indices[0].shape[0];
    const C = this.config.channels;
    let fHat = F.zeros([B, C, P, P]);
    const next: Tensor[] = [];
    for (let si = 0; si < SN - 1; si++) {
      fHat = F.add(fHat, this.quantResi.apply(F.interpolate(this.codeMap(indices[si], pns[si]), [P, P], 'bicubic'), si, SN));
      const pn = pns[si + 1];
      next.push(F.transpose(F.reshape(F.interpolate(fHat, [pn, pn], 'area'), [B, C, pn * pn]), [0, 2, 1])); // (B, C, pn²) -> (B, pn², C)
    }
    return next.length ? F.concat(next, 1) : F.zeros([B, 0, C]);
  }

  /** One sampling step (get_next_autoregressive_input): f̂ ← f̂ + φ(up(h)); next input area(f̂, pn_{si+1}). */
  nextInput(si: number, fHat_BChw: Tensor, h_BChw: Tensor): { fHat: Tensor; next: Tensor | undefined } {
    const F = this.F;
    const pns = this.patchNums;
    const SN = pns.length;
    if (si < SN - 1) {
      const P = pns[SN - 1];
      const fHat = F.add(fHat_BChw, this.quantResi.apply(F.interpolate(h_BChw, [P, P], 'bicubic'), si, SN));
      return { fHat, next: F.interpolate(fHat, [pns[si + 1], pns[si + 1]], 'area') };
    }
    const h = this.config.hybrid ? h_BChw : this.quantResi.apply(h_BChw, si, SN);
    return { fHat: F.add(fHat_BChw, h), next: undefined };
  }

  /**
   * The VAE-training forward (VectorQuantizer2.forward / HARTHybridQuantizer.forward):
   * φ at every scale, VQ loss mean_k β·mse(sg(f̂_k), f) + mse(f̂_k, sg(f)), and f̂ passed
   * straight through as sg(f̂ − f) + f. `addResidual` (HART) adds the remaining residual
   * to f̂ before the straight-through.
   */
  trainingForward(f_BChw: Tensor, addResidual: boolean): { fHat_BChw: Tensor; vqLoss: Tensor } {
    const F = this.F;
    const pns = this.patchNums;
    const SN = pns.length;
    const [B, , H, W] = f_BChw.shape;
    const znorm = this.config.usingZnorm;
    const fNoGrad = detach(F, f_BChw);
    const codebookNoGrad = detach(F, this.embedding.weight.value);
    const mse = (a: Tensor, b: Tensor): Tensor => F.mean(F.square(F.sub(a, b)));
    let rest = fNoGrad;
    let fHat = F.zeros(f_BChw.shape);
    let loss: Tensor | undefined;
    for (let si = 0; si < SN; si++) {
      const pn = pns[si];
      const restDown = F.interpolate(detach(F, rest), [pn, pn], 'area'); // identity at the last scale
      const idx_Bl = F.reshape(this.nearest(this.rows(restDown), znorm, codebookNoGrad), [B, pn * pn]);
      const h = this.quantResi.apply(F.interpolate(this.codeMap(idx_Bl, pn), [H, W], 'bicubic'), si, SN);
      fHat = F.add(fHat, h);
      rest = F.sub(rest, h);
      const term = F.add(F.mul(mse(detach(F, fHat), f_BChw), this.config.beta), mse(fHat, fNoGrad));
      loss = loss ? F.add(loss, term) : term;
    }
    if (addResidual) fHat = F.add(fHat, rest);
    return { fHat_BChw: F.add(F.sub(detach(F, fHat), fNoGrad), f_BChw), vqLoss: F.mul(loss as Tensor, 1 / SN) };
  }

  private checkScales(indices: Tensor[]): number[] {
    const pns = this.patchNums;
    if (indices.length !== pns.length) {
      throw new TesseraError('SHAPE_MISMATCH', `expected token maps for ${pns.length} scales (${pns.join(', ')}), got ${indices.length}`, { subject: 'tokenizer/msvq', data: { patchNums: pns, got: indices.length } });
    }
    return pns;
  }
}
