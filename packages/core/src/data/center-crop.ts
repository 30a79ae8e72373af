/**
 * ADM's `center_crop_arr` as MAR and FAR preprocess images (util/crop.py; spec/mar.md
 * §8.1): BOX-halve while the short side is at least twice the target, BICUBIC-resize so
 * the short side equals the target (sizes rounded with Python's round), then crop the
 * centre. Pixels are 8-bit HWC, resampled exactly as Pillow does.
 */
import { TesseraError } from '../errors';
import { pilResize } from './pil-resample';

export interface PixelImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** Python 3's round(): half to even. */
const roundHalfEven = (x: number): number => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

export function centerCropArr(img: PixelImage, size: number): PixelImage {
  if (!(size > 0) || !Number.isInteger(size)) throw new TesseraError('CONFIG_INVALID', `center crop size must be a positive integer, got ${size}`);
  let { data, width, height } = img;
  const { channels } = img;
  while (Math.min(width, height) >= 2 * size) {
    const w2 = Math.floor(width / 2), h2 = Math.floor(height / 2);
    data = pilResize(data, width, height, channels, w2, h2, 'box');
    width = w2;
    height = h2;
  }
  const scale = size / Math.min(width, height);
  const w3 = roundHalfEven(width * scale), h3 = roundHalfEven(height * scale);
  data = pilResize(data, width, height, channels, w3, h3, 'bicubic');
  const top = Math.floor((h3 - size) / 2), left = Math.floor((w3 - size) / 2);
  const out = new Uint8Array(size * size * channels);
  for (let y = 0; y < size; y++) {
    out.set(data.subarray(((top + y) * w3 + left) * channels, ((top + y) * w3 + left + size) * channels), y * size * channels);
  }
  return { data: out, width: size, height: size, channels };
}

/** ToTensor + Normalize(0.5, 0.5): 8-bit HWC to float CHW in [-1, 1]. */
export function toNormalizedChw(img: PixelImage): Float32Array {
  const { data, width, height, channels } = img;
  const plane = width * height;
  const out = new Float32Array(channels * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < channels; c++) out[c * plane + i] = (data[i * channels + c] / 255 - 0.5) / 0.5;
  }
  return out;
}
