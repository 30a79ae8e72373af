/**
 * torchvision's `ImageFolder` as MAR and VAR train on it (`datasets.ImageFolder(root,
 * transform)`): one subfolder per class, class indices in sorted name order, files
 * walked recursively in sorted order. Decoding goes through sharp to raw 8-bit RGB (alpha
 * dropped, as Pillow's `convert('RGB')`), then the official crop (`centerCropArr`, spec/
 * mar.md §8.1) and normalisation.
 *
 * Unlike torchvision, a bad file never stops a run: files that are not images (by
 * extension or by header) are left out while scanning, files that fail to decode later
 * are left out when first met and replaced by the next good image (so a batch stays
 * deterministic). Every such file is listed in `skipped` and reported via `onSkipped`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { TesseraError } from '../errors';
import { preprocessPixels } from './transforms';
import type { Dataset, Preprocess, Sample, SkippedFile } from './types';

/** Extensions sharp decodes (torchvision's IMG_EXTENSIONS, less the ones libvips lacks). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif', '.heic'];

const byCodepoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
/** Headers are checked this many files at a time while scanning. */
const SCAN_CONCURRENCY = 16;

interface Entry { file: string; label: number }

export interface ImageFolderOptions {
  resolution: number;
  preprocess: Preprocess;
  onSkipped?: (files: SkippedFile[]) => void;
}

export class ImageFolderDataset implements Dataset {
  readonly classes: number;
  readonly resolution: number;
  readonly skipped: SkippedFile[];
  private readonly bad = new Set<number>();

  private constructor(readonly source: string, readonly classNames: string[], private readonly entries: Entry[], skipped: SkippedFile[], private readonly options: ImageFolderOptions) {
    this.classes = classNames.length;
    this.resolution = options.resolution;
    this.skipped = skipped;
  }

  get length(): number {
    return this.entries.length;
  }

  /** Scans `root` (class subfolders) and checks each image's header. */
  static async open(root: string, options: ImageFolderOptions): Promise<ImageFolderDataset> {
    const classNames = classFolders(root);
    if (classNames.length === 0) {
      throw new TesseraError('DATASET_INVALID', `\`${root}\` has no class subfolders; an image-folder dataset holds one subfolder of images per class (\`${root}/<class>/<image>.png\`)`, {
        subject: root, data: { path: root },
      });
    }
    const candidates: Entry[] = [];
    const skipped: SkippedFile[] = [];
    classNames.forEach((name, label) => {
      for (const file of walk(path.join(root, name))) {
        const ext = path.extname(file).toLowerCase();
        if (IMAGE_EXTENSIONS.includes(ext)) candidates.push({ file, label });
        else skipped.push({ path: file, reason: `not an image file (extension \`${ext || '(none)'}\`; images are ${IMAGE_EXTENSIONS.join(', ')})` });
      }
    });
    const headerOk = new Array<boolean>(candidates.length);
    for (let start = 0; start < candidates.length; start += SCAN_CONCURRENCY) {
      await Promise.all(candidates.slice(start, start + SCAN_CONCURRENCY).map(async ({ file }, k) => {
        try {
          const meta = await sharp(file).metadata();
          headerOk[start + k] = Boolean(meta.width && meta.height);
          if (!headerOk[start + k]) skipped.push({ path: file, reason: 'the image has no size' });
        } catch (e) {
          headerOk[start + k] = false;
          skipped.push({ path: file, reason: `not a readable image: ${(e as Error).message}` });
        }
      }));
    }
    const entries = candidates.filter((_, i) => headerOk[i]);
    skipped.sort((a, b) => byCodepoint(a.path, b.path));
    if (entries.length === 0) {
      throw new TesseraError('DATASET_INVALID', `\`${root}\` has class subfolders (${classNames.map((n) => `\`${n}\``).join(', ')}) but no readable images in them`, {
        subject: root, data: { path: root, classes: classNames, skipped },
      });
    }
    if (skipped.length > 0) options.onSkipped?.([...skipped]);
    return new ImageFolderDataset(root, classNames, entries, skipped, options);
  }

  /** The image at `index`; an image that fails to decode is skipped in favour of the next good one. */
  async get(index: number): Promise<Sample> {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new TesseraError('USAGE', `index ${index} is outside the dataset of ${this.length} images (${this.source})`, { data: { index, length: this.length } });
    }
    for (let k = 0; k < this.length; k++) {
      const i = (index + k) % this.length;
      if (this.bad.has(i)) continue;
      const { file, label } = this.entries[i];
      try {
        return { image: await this.decode(file), label };
      } catch (e) {
        if (this.bad.has(i)) continue;
        this.bad.add(i);
        const entry = { path: file, reason: `cannot be decoded: ${(e as Error).message}` };
        this.skipped.push(entry);
        this.options.onSkipped?.([entry]);
      }
    }
    throw new TesseraError('DATASET_INVALID', `none of the ${this.length} images of \`${this.source}\` can be decoded; see \`skipped\``, {
      subject: this.source, data: { path: this.source, skipped: this.skipped.length },
    });
  }

  private async decode(file: string): Promise<Float32Array> {
    const { data, info } = await sharp(file).removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    const img = { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: info.channels };
    return preprocessPixels(img, this.options.resolution, this.options.preprocess);
  }
}

/** Sorted names of the subfolders of `root` (hidden ones excluded, as they hold no classes). */
export function classFolders(root: string): string[] {
  const isDir = (p: string): boolean => {
    try {
      return fs.statSync(p).isDirectory();
    } catch {
      return false;
    }
  };
  return fs.readdirSync(root).filter((name) => !name.startsWith('.') && isDir(path.join(root, name))).sort(byCodepoint);
}

/** Files under `dir`, recursively: a folder's files (sorted) before its subfolders, as `sorted(os.walk(dir))`. */
function walk(dir: string): string[] {
  const files: string[] = [];
  const subdirs: string[] = [];
  const names = fs.readdirSync(dir).sort(byCodepoint);
  for (const name of names) {
    const full = path.join(dir, name);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(full); // follows links, as torchvision's followlinks=True
    } catch {
      continue; // a dangling link
    }
    if (stat.isDirectory()) subdirs.push(full);
    else if (stat.isFile()) files.push(full);
  }
  return [...files, ...subdirs.flatMap(walk)];
}
