/**
 * VAR's zero-shot in-painting and out-painting (paper arXiv 2404.02905 §5 "zero-shot
 * generalization"; official `demo_zero_shot_edit.ipynb`, `get_edit_mask` and
 * `replace_embedding`; spec/var.md §9). A binary mask on the last scale's grid says
 * which tokens of a given image to keep (1) and which the model generates (0). At
 * every scale the mask is resized bilinearly and thresholded at 0.5 (scales of at most
 * three tokens keep everything), and the kept positions' code vectors are replaced by
 * the given image's before the scale is accumulated.
 */
import { TesseraError } from '@tessera/core';
import type { Engine, Tensor } from '@tessera/core';

const SUBJECT = 'direction/scale';

/** A box in fractions of the image side, rows [y0, y1) and columns [x0, x1). */
export interface EditBox {
  y0: number;
  x0: number;
  y1: number;
  x1: number;
}

/** What a masked (editing) run needs: the edited image's tokens and the keep mask. */
export interface ScaleEdit {
  /** Tokens of the image being edited, int32 [B, pn_k²] per scale. */
  tokens: Tensor[];
  /** Row-major mask on the last scale's P×P grid: 1 keeps the image's token, 0 generates. */
  keep_PP: Float32Array;
}

/** Python's `round`: halves go to the even neighbour (`round(4.5) = 4`). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * `get_edit_mask`: ones on the box (out-painting keeps the box) or, with `inpainting`,
 * ones outside it (in-painting regenerates the box). Row-major P×P.
 */
export function editMask(side: number, box: EditBox, inpainting: boolean): Float32Array {
  for (const [k, v] of Object.entries(box)) {
    if (!(v >= 0 && v <= 1)) throw new TesseraError('CONFIG_INVALID', `edit box \`${k}\` must be a fraction in [0, 1], got ${v}`, { subject: SUBJECT, data: { [k]: v } });
  }
  const [r0, r1, c0, c1] = [box.y0, box.y1, box.x0, box.x1].map((f) => roundHalfEven(f * side));
  const mask = new Float32Array(side * side).fill(inpainting ? 1 : 0);
  for (let y = r0; y < Math.min(r1, side); y++) {
    for (let x = c0; x < Math.min(c1, side); x++) mask[y * side + x] = inpainting ? 0 : 1;
  }
  return mask;
}

/**
 * The keep mask of one scale, [1, 1, pn, pn] float 0/1: bilinear resize of the last-scale
 * mask, `> 0.5`; every position is kept when the scale has at most three tokens.
 */
export function scaleKeepMask(F: Engine, keep_PP: Float32Array, pn: number): Tensor {
  const P = Math.round(Math.sqrt(keep_PP.length));
  if (P * P !== keep_PP.length) {
    throw new TesseraError('SHAPE_MISMATCH', `the edit mask must be square (P×P values), got ${keep_PP.length} values`, { subject: SUBJECT });
  }
  if (pn * pn <= 3) return F.ones([1, 1, pn, pn]);
  return F.tidy(() => F.cast(F.greater(F.interpolate(F.tensor(keep_PP, [1, 1, P, P]), [pn, pn], 'bilinear'), 0.5), 'float32'));
}
