/**
 * Images in and out through sharp. Model-side images are float32 CHW in [-1, 1];
 * files are 8-bit sRGB. Decoding failures name the file; writes are atomic.
 */
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { TesseraError } from '../errors';
import { writeFileAtomic } from '../util/atomic';

export interface LoadedImage {
  /** [3, H, W] in [-1, 1] */
  data: Float32Array;
  width: number;
  height: number;
  /** What was done to fit the requested size (for a user-facing note). */
  note?: string;
}

export interface LoadImageOptions {
  /** Target square size; the image is resized and center-cropped to it. */
  size?: number;
}

export async function loadImage(file: string, options: LoadImageOptions = {}): Promise<LoadedImage> {
  if (!existsSync(file)) throw new TesseraError('FILE_NOT_FOUND', `image \`${file}\` does not exist`, { subject: file });
  let pipeline = sharp(file, { failOn: 'error' });
  let meta: sharp.Metadata;
  try {
    meta = await pipeline.metadata();
  } catch (e) {
    throw new TesseraError('IMAGE_INVALID', `\`${file}\` is not a readable image: ${(e as Error).message}`, { subject: file, cause: e });
  }
  let note: string | undefined;
  if (options.size && (meta.width !== options.size || meta.height !== options.size)) {
    note = `${meta.width}x${meta.height} resized and center-cropped to ${options.size}x${options.size}`;
    pipeline = pipeline.resize(options.size, options.size, { fit: 'cover', position: 'centre', kernel: 'lanczos3' });
  }
  let raw: { data: Buffer; info: sharp.OutputInfo };
  try {
    raw = await pipeline.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new TesseraError('IMAGE_INVALID', `\`${file}\` could not be decoded: ${(e as Error).message}`, { subject: file, cause: e });
  }
  const { width, height, channels } = raw.info;
  return { data: hwcToChw(raw.data, width, height, channels), width, height, note };
}

/** 8-bit HWC (1 or 3+ channels) to float CHW RGB in [-1, 1]. */
export function hwcToChw(bytes: Uint8Array, width: number, height: number, channels: number): Float32Array {
  const out = new Float32Array(3 * width * height);
  const plane = width * height;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = bytes[i * channels + (channels === 1 ? 0 : c)];
      out[c * plane + i] = (v / 255) * 2 - 1;
    }
  }
  return out;
}

/** Float CHW in [-1, 1] to 8-bit HWC RGB (rounded, clamped) as torchvision's save_image does. */
export function chwToHwc(data: Float32Array, width: number, height: number): Uint8Array {
  const plane = width * height;
  const out = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = (data[c * plane + i] + 1) / 2;
      out[i * 3 + c] = Math.min(255, Math.max(0, Math.floor(v * 255 + 0.5)));
    }
  }
  return out;
}

export async function encodePng(data: Float32Array, width: number, height: number): Promise<Buffer> {
  return sharp(Buffer.from(chwToHwc(data, width, height)), { raw: { width, height, channels: 3 } }).png().toBuffer();
}

export async function saveImage(file: string, data: Float32Array, width: number, height: number): Promise<void> {
  writeFileAtomic(file, await encodePng(data, width, height));
}
