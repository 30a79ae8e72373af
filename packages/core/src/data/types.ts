/**
 * The data contracts of training: a dataset serves preprocessed images (float CHW RGB in
 * [-1, 1], as the official pipelines' ToTensor + Normalize(0.5, 0.5) produce) with their
 * class label; `openDataset` picks the reader from what the folder holds.
 */
import { z } from 'zod';

/** One training image: CHW RGB in [-1, 1], `resolution` x `resolution`, and its class. */
export interface Sample {
  image: Float32Array;
  label: number;
}

/** A file a dataset left out, and why (unreadable, not an image, corrupt). */
export interface SkippedFile {
  path: string;
  reason: string;
}

export interface Dataset {
  readonly length: number;
  readonly classes: number;
  readonly classNames?: string[];
  /** Where the data came from (the folder, and the split for IDX data), for logs and cache keys. */
  readonly source: string;
  /** Square side of every served image. */
  readonly resolution?: number;
  /** Files found but left out (image folders). */
  readonly skipped?: readonly SkippedFile[];
  get(index: number): Promise<Sample>;
}

export type Preprocess = 'center-crop' | 'resize';

export interface OpenDatasetOptions {
  /** Target square size. */
  resolution: number;
  /**
   * `center-crop` (default): ADM's `center_crop_arr` as MAR, FAR and the VAR/HART
   * evaluation use it (spec/mar.md §8.1). `resize`: squash to the square with Pillow's
   * bicubic filter, keeping everything in view.
   */
  preprocess?: Preprocess;
  channels?: 3;
  /** IDX data: `train` (default) reads `train-*`, `test` reads `t10k-*`. */
  split?: 'train' | 'test';
  /**
   * Called with the files an image folder skips: once after scanning (all found so far),
   * then once per file that fails to decode later. Default: none (see `dataset.skipped`).
   */
  onSkipped?: (files: SkippedFile[]) => void;
}

export const openDatasetOptionsSchema = z.object({
  resolution: z.number().int().positive(),
  preprocess: z.enum(['center-crop', 'resize']).default('center-crop'),
  channels: z.literal(3).default(3),
  split: z.enum(['train', 'test']).default('train'),
  onSkipped: z.function().optional(),
}).strict();

export type ResolvedDatasetOptions = Required<Omit<OpenDatasetOptions, 'onSkipped'>> & Pick<OpenDatasetOptions, 'onSkipped'>;
