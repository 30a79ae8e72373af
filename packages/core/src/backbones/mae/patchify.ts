/**
 * MAR's patchify / unpatchify (spec/mar.md §3; `MAR.patchify`/`unpatchify` in LTH14/mar
 * `models/mar.py`, identical in FAR). A latent [B, c, h, w] becomes L = (h/p)·(w/p)
 * tokens in raster order (l = row·seq_w + col), each of c·p² values with the channel
 * slowest, then the row offset, then the column offset. Unpatchify is the exact inverse.
 */
import type { Engine } from '../../engine/engine';
import type { Tensor } from '../../engine/ops';
import { TesseraError } from '../../errors';

/** [B, c, h, w] -> [B, (h/p)(w/p), c·p²] */
export function patchify(F: Engine, x_BChw: Tensor, patchSize: number): Tensor {
  const [B, c, h, w] = x_BChw.shape;
  const p = patchSize;
  if (x_BChw.shape.length !== 4 || h % p !== 0 || w % p !== 0) {
    throw new TesseraError('SHAPE_MISMATCH', `patchify expects an NCHW latent whose sides are multiples of patch size ${p}, got [${x_BChw.shape.join(', ')}]`, {
      data: { shape: [...x_BChw.shape], patchSize: p },
    });
  }
  const hp = h / p, wp = w / p;
  const x6 = F.reshape(x_BChw, [B, c, hp, p, wp, p]); // n c h p w q
  const t6 = F.transpose(x6, [0, 2, 4, 1, 3, 5]); // n h w c p q
  return F.reshape(t6, [B, hp * wp, c * p * p]);
}

/** [B, seqH·seqW, c·p²] -> [B, c, seqH·p, seqW·p] */
export function unpatchify(F: Engine, x_BLC: Tensor, channels: number, patchSize: number, seqH: number, seqW: number): Tensor {
  const [B, L, C] = x_BLC.shape;
  const p = patchSize;
  if (x_BLC.shape.length !== 3 || L !== seqH * seqW || C !== channels * p * p) {
    throw new TesseraError('SHAPE_MISMATCH', `unpatchify expects tokens [B, ${seqH * seqW}, ${channels * p * p}], got [${x_BLC.shape.join(', ')}]`, {
      data: { shape: [...x_BLC.shape], channels, patchSize: p, seqH, seqW },
    });
  }
  const x6 = F.reshape(x_BLC, [B, seqH, seqW, channels, p, p]); // n h w c p q
  const t6 = F.transpose(x6, [0, 3, 1, 4, 2, 5]); // n c h p w q
  return F.reshape(t6, [B, channels, seqH * p, seqW * p]);
}
