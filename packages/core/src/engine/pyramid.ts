/**
 * Multi-scale views of a latent grid, and FAR's frequency low-pass built from them
 * (spec/far.md §1; official `FAR.processingpregt_latent` in yuhuUSTC/FAR `models/far.py`).
 *
 * A level-k view shrinks an H×W latent to k×k by area averaging (PyTorch
 * `interpolate(mode='area')`, i.e. adaptive average pooling) and, for the low-pass,
 * blows it back up to H×W bicubically (`mode='bicubic'`, align_corners=False, A = −0.75,
 * border-clamped taps, no output clamp). Level 0 is all zeros. Both resizes are linear
 * and per channel, so the filter is differentiable and exports as two matmuls per axis.
 */
import type { Engine } from './engine';
import type { Tensor } from './ops';
import { TesseraError } from '../errors';

function checkLevel(x_BCHW: Tensor, level: number): void {
  if (x_BCHW.shape.length !== 4) {
    throw new TesseraError('SHAPE_MISMATCH', `frequency filter expects an NCHW latent, got shape [${x_BCHW.shape.join(', ')}]`, {
      data: { shape: [...x_BCHW.shape] },
    });
  }
  const [, , H, W] = x_BCHW.shape;
  if (!Number.isInteger(level) || level < 0 || level > Math.min(H, W)) {
    throw new TesseraError('SHAPE_MISMATCH', `frequency level \`${level}\` is outside 0..${Math.min(H, W)} for a ${H}x${W} latent`, {
      data: { level, H, W },
    });
  }
}

/** The k×k area-averaged view of an NCHW latent (level ≥ 1). */
export function pyramidDown(F: Engine, x_BCHW: Tensor, level: number): Tensor {
  checkLevel(x_BCHW, level);
  if (level === 0) throw new TesseraError('SHAPE_MISMATCH', 'pyramidDown needs a level of at least 1 (level 0 has no grid)', { data: { level } });
  return F.interpolate(x_BCHW, [level, level], 'area');
}

/** A coarse NCHW view resized bicubically to `size` = [H, W]. */
export function pyramidUp(F: Engine, coarse_BChw: Tensor, size: [number, number]): Tensor {
  return F.interpolate(coarse_BChw, size, 'bicubic');
}

/**
 * FAR's frequency low-pass at `level` k: zeros for k = 0, otherwise area down to k×k and
 * bicubic back to H×W. At k = H it is the identity (returned as a new tensor).
 *
 * @example const low_BCHW = frequencyFilter(F, latent_BCHW, 5);
 */
export function frequencyFilter(F: Engine, x_BCHW: Tensor, level: number): Tensor {
  checkLevel(x_BCHW, level);
  if (level === 0) return F.zeros(x_BCHW.shape, 'float32');
  const [, , H, W] = x_BCHW.shape;
  // Always a fresh tensor, even where both resizes are identities, so callers may dispose it.
  if (level === H && level === W) return F.add(x_BCHW, 0);
  return F.tidy(() => pyramidUp(F, pyramidDown(F, x_BCHW, level), [H, W]));
}
