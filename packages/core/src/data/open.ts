/**
 * `openDataset`: the reader is chosen by what the folder holds. IDX files named as
 * MNIST and Fashion-MNIST ship them (`train-images-idx3-ubyte[.gz]`, `t10k-...`) make an
 * IDX dataset; class subfolders of images make an image-folder dataset. A folder whose
 * only subfolders are `train` and `test` (or `val`) is taken as split into those.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TesseraError } from '../errors';
import { findIdxPair, IdxDataset } from './idx';
import { classFolders, ImageFolderDataset } from './image-folder';
import { openDatasetOptionsSchema, type Dataset, type OpenDatasetOptions, type ResolvedDatasetOptions } from './types';

/**
 * Opens the dataset at `dir`.
 * @example const data = await openDataset('/usr/share/datasets/fashion-mnist', { resolution: 32 });
 */
export async function openDataset(dir: string, options: OpenDatasetOptions): Promise<Dataset> {
  const parsed = openDatasetOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TesseraError('CONFIG_INVALID', `dataset option \`${issue.path.join('.')}\`: ${issue.message}`, { data: { path: issue.path } });
  }
  const o = { ...parsed.data, onSkipped: options.onSkipped } as ResolvedDatasetOptions;
  if (!fs.existsSync(dir)) {
    throw new TesseraError('FILE_NOT_FOUND', `dataset folder \`${dir}\` does not exist`, { subject: dir, data: { path: dir } });
  }
  if (!fs.statSync(dir).isDirectory()) {
    throw new TesseraError('DATASET_INVALID', `\`${dir}\` is a file; give the folder that holds the IDX files or the class subfolders`, { subject: dir, data: { path: dir } });
  }
  const idx = findIdxPair(dir, o.split);
  if (idx) return new IdxDataset(idx, o.resolution, o.preprocess, `${path.resolve(dir)} (${o.split})`);
  const otherSplit = findIdxPair(dir, o.split === 'train' ? 'test' : 'train');
  if (otherSplit) {
    throw new TesseraError('DATASET_INVALID', `\`${dir}\` holds IDX files of the ${o.split === 'train' ? 'test' : 'train'} split only; the ${o.split} split needs \`${o.split === 'train' ? 'train' : 't10k'}-images-idx3-ubyte[.gz]\` and \`-labels-idx1-ubyte[.gz]\``, {
      subject: dir, data: { path: dir, split: o.split },
    });
  }
  const subfolders = classFolders(dir);
  if (subfolders.length > 0) {
    const splitDir = splitFolder(dir, subfolders, o.split);
    return ImageFolderDataset.open(splitDir ?? dir, { resolution: o.resolution, preprocess: o.preprocess, onSkipped: o.onSkipped });
  }
  throw new TesseraError('DATASET_INVALID', `\`${dir}\` is neither an IDX dataset (\`train-images-idx3-ubyte[.gz]\` + \`train-labels-idx1-ubyte[.gz]\`, or \`t10k-...\`) nor an image folder (one subfolder of images per class)`, {
    subject: dir, data: { path: dir },
  });
}

function splitFolder(dir: string, subfolders: string[], split: 'train' | 'test'): string | undefined {
  const names = new Set(subfolders);
  const isSplit = subfolders.length === 2 && names.has('train') && (names.has('test') || names.has('val'));
  if (!isSplit) return undefined;
  return path.join(dir, split === 'train' ? 'train' : names.has('test') ? 'test' : 'val');
}
