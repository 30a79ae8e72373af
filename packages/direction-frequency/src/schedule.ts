/**
 * FAR's per-step schedules and its frequency filter (spec/far.md §1-3; yuhuUSTC/FAR
 * `models/far.py`: `processingpregt_latent`, `sample_tokens_nomask`,
 * `sample_tokens_mask`, the `loss_weight` table). Plain functions, so each official
 * formula can be checked on its own.
 */
import { Engine, LatentPyramid, Tensor, TesseraError } from '@tessera/core';

/** Guidance at step s of K: `linear` 1 + (cfg − 1)·s/K (starts at 1, never reaches cfg), or `constant`. */
export function stepCfg(cfg: number, schedule: 'constant' | 'linear', s: number, K: number): number {
  return schedule === 'constant' ? cfg : 1 + (cfg - 1) * s / K;
}

/**
 * Temperature at step s of K. `cosine` (nomask sampler): 0.8 + (1 − cos(π/2·(s+1)/K))·(T − 0.8),
 * which is the official 0.8 → 1.0 ramp for T = 1 (the official sampler ignores its argument);
 * `linear` (mask sampler): 0.85 + (T − 0.85)·s/K; `constant`: T.
 */
export function stepTemperature(temperature: number, schedule: 'cosine' | 'linear' | 'constant', s: number, K: number): number {
  if (schedule === 'constant') return temperature;
  if (schedule === 'linear') return 0.85 + (temperature - 0.85) * s / K;
  return 0.8 + (1 - Math.cos((Math.PI / 2) * (s + 1) / K)) * (temperature - 0.8);
}

/** Mask sampler: tokens still masked after step s, floor(L·cos(π/2·(s+1)/K)), not clamped (far.md Q6). */
export function stepMaskLength(L: number, s: number, K: number): number {
  return Math.floor(L * Math.cos((Math.PI / 2) * (s + 1) / K));
}

/** The frequency-aware loss weight of level k on an H-level latent: 1 + sin(π/2·(k+1)/H). */
export function levelLossWeight(level: number, H: number): number {
  return 1 + Math.sin((Math.PI / 2) * (level + 1) / H);
}

/**
 * The low-pass at `level` k through a tokenizer's pyramid: zeros for k = 0, the latent
 * itself for k = H, otherwise area down to k×k and bicubic back up. A new tensor.
 */
export function lowPass(F: Engine, pyramid: LatentPyramid, latent_BCHW: Tensor, level: number): Tensor {
  const [, , H, W] = latent_BCHW.shape;
  checkLevel(level, H, W);
  if (level === 0) return F.zeros(latent_BCHW.shape);
  if (level === H) return F.tidy(() => F.add(latent_BCHW, 0));
  return F.tidy(() => pyramid.up(pyramid.down(latent_BCHW, [level, level]), [H, W]));
}

export function checkLevel(level: number, H: number, W: number): void {
  if (H !== W) {
    throw new TesseraError('SHAPE_MISMATCH', `the frequency direction needs a square latent grid, got ${H}x${W}`, { subject: 'direction/frequency', data: { grid: [H, W] } });
  }
  if (!Number.isInteger(level) || level < 0 || level > H) {
    throw new TesseraError('CONFIG_INVALID', `frequency level ${level} is outside 0..${H} for a ${H}x${W} latent; fix \`levels\``, { subject: 'direction/frequency', data: { level, grid: [H, W] } });
  }
}
