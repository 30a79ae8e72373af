/**
 * The official training transforms after decoding (spec/mar.md §8.1; LTH14/mar
 * `main_mar.py`, FoundationVision/VAR `utils/data.py`): fit the 8-bit image to the target
 * square, then ToTensor + Normalize(0.5, 0.5) to CHW in [-1, 1], and torchvision's
 * RandomHorizontalFlip (p = 0.5, one `torch.rand(1)` per image) as a separate step so the
 * caller decides which draw source pays for it.
 */
import { TesseraError } from '../errors';
import type { DrawSource } from '../rng/draws';
import { centerCropArr, type PixelImage } from './center-crop';
import { pilResize } from './pil-resample';
import type { Preprocess } from './types';

/**
 * 8-bit HWC pixels (1 channel, or RGB) to float CHW RGB in [-1, 1] of `size` x `size`.
 * Grayscale is fitted on its one channel and then copied to R, G and B: Pillow's
 * `convert('RGB')` copies the channel and resamples each channel alike, so the result is
 * the same as converting first, for a third of the work.
 */
export function preprocessPixels(img: PixelImage, size: number, preprocess: Preprocess): Float32Array {
  if (img.channels !== 1 && img.channels !== 3) {
    throw new TesseraError('SHAPE_MISMATCH', `preprocessing takes 1 or 3 channels, got ${img.channels}`, { data: { channels: img.channels } });
  }
  const fitted = preprocess === 'center-crop' ? centerCropArr(img, size) : resizeTo(img, size);
  return toRgbChw(fitted);
}

/** Squash to `size` x `size` with Pillow's bicubic filter (aspect ratio not kept). */
function resizeTo(img: PixelImage, size: number): PixelImage {
  if (img.width === size && img.height === size) return img;
  return { data: pilResize(img.data, img.width, img.height, img.channels, size, size, 'bicubic'), width: size, height: size, channels: img.channels };
}

/** ToTensor + Normalize(0.5, 0.5), in float32 as torch computes it: (v / 255 - 0.5) / 0.5. */
function toRgbChw(img: PixelImage): Float32Array {
  const { data, width, height, channels } = img;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  const f = Math.fround;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = data[i * channels + (channels === 1 ? 0 : c)];
      out[c * plane + i] = f(f(f(v / 255) - 0.5) / 0.5);
    }
  }
  return out;
}

/**
 * torchvision's RandomHorizontalFlip(p=0.5): one uniform draw, flip when it is below 0.5.
 * Takes CHW [3, size, size] and always returns a new array.
 */
export function randomFlip(image: Float32Array, size: number, draws: DrawSource): Float32Array {
  const u = draws.uniform([1], 'random horizontal flip')[0];
  return u < 0.5 ? flipHorizontal(image, size) : Float32Array.from(image);
}

/** Mirror left-right every row of a square CHW image (any channel count). */
export function flipHorizontal(image: Float32Array, size: number): Float32Array {
  const rows = image.length / size;
  if (!Number.isInteger(rows) || image.length % (size * size) !== 0) {
    throw new TesseraError('SHAPE_MISMATCH', `an image of ${image.length} values is not CHW with ${size} x ${size} planes`, { data: { length: image.length, size } });
  }
  const out = new Float32Array(image.length);
  for (let r = 0; r < rows; r++) {
    const at = r * size;
    for (let x = 0; x < size; x++) out[at + x] = image[at + size - 1 - x];
  }
  return out;
}
