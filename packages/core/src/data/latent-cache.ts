/**
 * Building a latent cache, as LTH14/mar `main_cache.py` does (spec/mar.md §8.2): every
 * image goes through the crop without a flip, then the tokenizer's cache codec encodes it
 * and its horizontal mirror once, so training never runs the tokenizer again.
 *
 * The cache is one safetensors file: `image.<name>` and `flip.<name>` per stored tensor
 * ([N, ...]) and `labels` [N] int32, with metadata naming the key. The key hashes the
 * tokenizer id and weights, the resolution, the data (source, length) and the flip
 * setting, so a stale cache is never used. The build is resumable: chunks of images are
 * written atomically to `<file>.parts/` as they finish; an interrupted build reuses the
 * chunks of the same key and continues with the first missing one; the finished file is
 * written atomically and the parts removed.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Engine } from '../engine/engine';
import type { Tensor } from '../engine/ops';
import type { Tokenizer } from '../contracts/tokenizer';
import { TesseraError } from '../errors';
import { readSafetensorsFile, writeSafetensorsFile } from '../checkpoint/safetensors';
import { hostTensor, type HostTensor } from '../tensor/host';
import { latentCodec, LATENT_CACHE_FORMAT, LATENT_CACHE_VERSION } from './cached-latents';
import { flipHorizontal } from './transforms';
import type { Dataset } from './types';

export interface LatentCacheOptions {
  /** The cache file (`.safetensors`). */
  file: string;
  engine: Engine;
  /** Store the mirror of every image too (default true, as MAR). */
  flip?: boolean;
  /** Images per tokenizer call (default 32). */
  batchSize?: number;
  /** Images per resumable chunk (default 1024). */
  chunkSize?: number;
  /** Stop after encoding this many new chunks (time-sliced builds); the build then reports `complete: false`. */
  maxChunks?: number;
  onProgress?: (encoded: number, total: number) => void;
}

export interface LatentCacheBuild {
  file: string;
  key: string;
  complete: boolean;
  /** Images in finished chunks (all of them when complete). */
  encoded: number;
  total: number;
  /** Chunks found from an earlier, interrupted build and reused. */
  reusedChunks: number;
  /** Chunks encoded by this call. */
  builtChunks: number;
}

/** The cache key: sha256 over format, tokenizer id and weights, resolution, data and flip. */
export async function latentCacheKey(tokenizer: Tokenizer, dataset: Dataset, flip: boolean): Promise<string> {
  const hash = createHash('sha256');
  const [h, w] = tokenizer.resolution;
  hash.update(JSON.stringify({ format: LATENT_CACHE_FORMAT, version: LATENT_CACHE_VERSION, tokenizer: tokenizer.id, resolution: [h, w], source: dataset.source, length: dataset.length, flip }));
  for (const [name, t] of await tokenizer.module.stateDict()) {
    hash.update(`${name}:${t.dtype}:[${t.shape.join(',')}]`);
    hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return hash.digest('hex');
}

/**
 * Encodes `dataset` into the cache `options.file` (or finds it done), resuming an
 * interrupted build.
 * @example
 * const build = await buildLatentCache(generator.tokenizer, dataset, { file: 'out/latents.safetensors', engine });
 * const cache = CachedLatentDataset.open(build.file, build.key);
 */
export async function buildLatentCache(tokenizer: Tokenizer, dataset: Dataset, options: LatentCacheOptions): Promise<LatentCacheBuild> {
  const { file, engine, flip = true, batchSize = 32, chunkSize = 1024, maxChunks = Infinity, onProgress } = options;
  for (const [name, v] of [['batchSize', batchSize], ['chunkSize', chunkSize]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new TesseraError('CONFIG_INVALID', `latent cache \`${name}\` must be a positive integer, got ${v}`, { data: { field: name, value: v } });
  }
  const [resolution, width] = tokenizer.resolution;
  if (resolution !== width || (dataset.resolution !== undefined && dataset.resolution !== resolution)) {
    throw new TesseraError('CONFIG_INVALID', `\`${tokenizer.id}\` expects ${resolution}x${width} images; the dataset serves ${dataset.resolution ?? '?'}x${dataset.resolution ?? '?'}. Open the dataset with \`resolution: ${resolution}\`.`, {
      data: { tokenizer: [resolution, width], dataset: dataset.resolution },
    });
  }
  const key = await latentCacheKey(tokenizer, dataset, flip);
  const total = dataset.length;
  const chunks = Math.ceil(total / chunkSize);
  const result = (complete: boolean, encoded: number, reusedChunks: number, builtChunks: number): LatentCacheBuild =>
    ({ file, key, complete, encoded, total, reusedChunks, builtChunks });
  if (fs.existsSync(file) && metadataOf(file)?.key === key) return result(true, total, 0, 0);

  const partsDir = `${file}.parts`;
  const partFile = (c: number): string => path.join(partsDir, `chunk-${String(c).padStart(6, '0')}.safetensors`);
  const codec = latentCodec(tokenizer);
  let reused = 0, built = 0, encoded = 0;
  for (let c = 0; c < chunks; c++) {
    const start = c * chunkSize, end = Math.min(total, start + chunkSize);
    const meta = fs.existsSync(partFile(c)) ? metadataOf(partFile(c)) : undefined;
    if (meta?.key === key && meta.start === String(start) && meta.end === String(end)) {
      reused++;
    } else {
      if (built >= maxChunks) return result(false, encoded, reused, built);
      const tensors = await encodeRange(engine, codec.store.bind(codec), dataset, start, end, { flip, batchSize, resolution });
      writeSafetensorsFile(partFile(c), tensors, { format: LATENT_CACHE_FORMAT, key, start: String(start), end: String(end) });
      built++;
    }
    encoded = end;
    onProgress?.(encoded, total);
  }

  const parts = Array.from({ length: chunks }, (_, c) => readSafetensorsFile(partFile(c)).tensors);
  const merged = new Map<string, HostTensor>();
  for (const name of parts[0].keys()) merged.set(name, concatRows(parts.map((p) => p.get(name) as HostTensor), `${partsDir}: ${name}`));
  writeSafetensorsFile(file, merged, {
    format: LATENT_CACHE_FORMAT, version: LATENT_CACHE_VERSION, key, tokenizer: tokenizer.id, resolution: String(resolution),
    flip: String(flip), count: String(total), classes: String(dataset.classes), source: dataset.source,
  });
  fs.rmSync(partsDir, { recursive: true, force: true });
  return result(true, total, reused, built);
}

/** Encodes images [start, end) (and their mirrors) into stored tensors and labels. */
async function encodeRange(
  engine: Engine, store: (images: Tensor) => Record<string, Tensor>, dataset: Dataset, start: number, end: number,
  o: { flip: boolean; batchSize: number; resolution: number },
): Promise<Map<string, HostTensor>> {
  const R = o.resolution;
  const pieces = new Map<string, HostTensor[]>();
  const labels = new Int32Array(end - start);
  for (let from = start; from < end; from += o.batchSize) {
    const count = Math.min(o.batchSize, end - from);
    const samples = await Promise.all(Array.from({ length: count }, (_, k) => dataset.get(from + k)));
    const images = new Float32Array(count * 3 * R * R);
    samples.forEach((s, k) => {
      if (s.image.length !== 3 * R * R) {
        throw new TesseraError('SHAPE_MISMATCH', `${dataset.source}: item ${from + k} has ${s.image.length} values; the tokenizer needs [3, ${R}, ${R}]`, { data: { index: from + k, got: s.image.length } });
      }
      images.set(s.image, k * 3 * R * R);
      labels[from - start + k] = s.label;
    });
    const variants: [string, Float32Array][] = [['image', images]];
    if (o.flip) variants.push(['flip', flipHorizontal(images, R)]);
    for (const [prefix, data] of variants) {
      const stored = engine.tidy(() => store(engine.tensor(data, [count, 3, R, R])));
      try {
        for (const [name, t] of Object.entries(stored)) {
          const host = await engine.read(t);
          const copy = host instanceof Int32Array ? Int32Array.from(host) : Float32Array.from(host);
          const list = pieces.get(`${prefix}.${name}`) ?? [];
          list.push(hostTensor(host instanceof Int32Array ? 'int32' : 'float32', t.shape, copy));
          pieces.set(`${prefix}.${name}`, list);
        }
      } finally {
        engine.dispose(Object.values(stored));
      }
    }
  }
  const out = new Map<string, HostTensor>();
  for (const [name, list] of pieces) out.set(name, concatRows(list, name));
  out.set('labels', hostTensor('int32', [end - start], labels));
  return out;
}

function concatRows(list: HostTensor[], what: string): HostTensor {
  const [first] = list;
  const inner = first.shape.slice(1);
  for (const t of list) {
    if (t.dtype !== first.dtype || t.shape.slice(1).join(',') !== inner.join(',')) {
      throw new TesseraError('SHAPE_MISMATCH', `${what}: pieces of [${t.shape.join(', ')}] ${t.dtype} and [${first.shape.join(', ')}] ${first.dtype} cannot be stacked`, { data: {} });
    }
  }
  const rows = list.reduce((n, t) => n + t.shape[0], 0);
  const length = list.reduce((n, t) => n + t.data.length, 0);
  const data = first.data instanceof Int32Array ? new Int32Array(length) : new Float32Array(length);
  let at = 0;
  for (const t of list) {
    data.set(t.data as never, at);
    at += t.data.length;
  }
  return hostTensor(first.dtype, [rows, ...inner], data);
}

/** The metadata of a safetensors file from its header alone, or undefined if unreadable. */
function metadataOf(file: string): Record<string, string> | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const lengthBytes = Buffer.alloc(8);
    if (fs.readSync(fd, lengthBytes, 0, 8, 0) !== 8) return undefined;
    const headerLength = Number(lengthBytes.readBigUInt64LE(0));
    if (headerLength > 100_000_000) return undefined;
    const header = Buffer.alloc(headerLength);
    if (fs.readSync(fd, header, 0, headerLength, 8) !== headerLength) return undefined;
    const parsed = JSON.parse(header.toString('utf8')) as { __metadata__?: Record<string, string> };
    return parsed.__metadata__;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
