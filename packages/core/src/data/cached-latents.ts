/**
 * Training from a latent cache (LTH14/mar `util/loader.py::CachedFolder`, spec/mar.md
 * §8.2): the cache holds, per image, what the tokenizer's `latentCache` codec stores for
 * the image and for its mirror; each time an item is served one uniform draw picks the
 * image (draw < 0.5) or the mirror, as `CachedFolder` does with `torch.rand(1) < 0.5`.
 * `cachedTokens` then turns a batch into tokens on an engine (for the vae: a posterior
 * sample from the cached moments, scaled).
 */
import type { Engine } from '../engine/engine';
import type { Tensor } from '../engine/ops';
import type { LatentCacheCodec, Tokenizer } from '../contracts/tokenizer';
import type { Tokens } from '../contracts/token-space';
import { TesseraError } from '../errors';
import { readSafetensorsFile } from '../checkpoint/safetensors';
import { hostTensor, numel, type HostData, type HostTensor } from '../tensor/host';
import { SeededDraws, type DrawSource } from '../rng/draws';
import { Rng } from '../rng/rng';
import { copySnapshot, EpochOrder, type BatcherState } from './batcher';

export const LATENT_CACHE_FORMAT = 'tessera-latent-cache';
export const LATENT_CACHE_VERSION = '1';

/** Per-image stored tensors (no batch axis) and the label. */
export interface LatentSample {
  stored: Record<string, HostTensor>;
  label: number;
  /** Whether the mirror's entry was served. */
  flipped: boolean;
}

/** A batch of stored tensors, each [B, ...]. */
export interface LatentBatch {
  stored: Record<string, HostTensor>;
  labels: Int32Array;
}

/**
 * The codec a cache uses: the tokenizer's own, or one that stores `encode(images)` as it
 * is (continuous `latent`; discrete `indices.<k>` per scale, plus `residual`).
 */
export function latentCodec(tokenizer: Tokenizer): LatentCacheCodec {
  if (tokenizer.latentCache) return tokenizer.latentCache;
  return {
    store(images_BCHW) {
      const tokens = tokenizer.encode(images_BCHW);
      if (tokens.kind === 'continuous') return { latent: tokens.latent };
      const out: Record<string, Tensor> = {};
      tokens.indices.forEach((t, k) => { out[`indices.${k}`] = t; });
      if (tokens.residual) out.residual = tokens.residual;
      return out;
    },
    tokens(stored): Tokens {
      if (stored.latent) return { kind: 'continuous', latent: stored.latent };
      const indices: Tensor[] = [];
      for (let k = 0; stored[`indices.${k}`]; k++) indices.push(stored[`indices.${k}`]);
      if (indices.length === 0) {
        throw new TesseraError('SHAPE_MISMATCH', `the latent cache holds ${Object.keys(stored).map((n) => `\`${n}\``).join(', ')}; \`${tokenizer.id}\` expects \`latent\` or \`indices.0\`, ...`, {
          subject: tokenizer.id, data: { names: Object.keys(stored) },
        });
      }
      return { kind: 'discrete', indices, ...(stored.residual ? { residual: stored.residual } : {}) };
    },
  };
}

/**
 * Tokens for a batch from the cache, on `engine`. Tensors are the caller's to dispose.
 * @example const tokens = cachedTokens(engine, generator.tokenizer, batch.stored, draws);
 */
export function cachedTokens(engine: Engine, tokenizer: Tokenizer, stored: Record<string, HostTensor>, draws?: DrawSource): Tokens {
  const codec = latentCodec(tokenizer);
  return engine.tidy(() => {
    const onEngine: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(stored)) onEngine[name] = engine.fromHost(t);
    return codec.tokens(onEngine, draws);
  });
}

/** A finished cache file, held in memory. */
export class CachedLatentDataset {
  readonly length: number;
  readonly classes: number;
  readonly source: string;
  readonly key: string;
  readonly resolution: number;
  /** Whether mirrored entries were stored. */
  readonly flip: boolean;
  /** Stored tensor names (without the `image.` / `flip.` prefix). */
  readonly names: string[];
  private readonly labels: Int32Array;

  private constructor(readonly file: string, private readonly tensors: Map<string, HostTensor>, meta: Record<string, string>) {
    const corrupt = (what: string): TesseraError => new TesseraError('CHECKPOINT_CORRUPT', `latent cache \`${file}\`: ${what}; delete it to rebuild`, { subject: file, data: { file } });
    if (meta.format !== LATENT_CACHE_FORMAT) throw corrupt(`its metadata has format \`${meta.format}\`, expected \`${LATENT_CACHE_FORMAT}\``);
    if (meta.version !== LATENT_CACHE_VERSION) throw corrupt(`it has version ${meta.version}; this Tessera reads version ${LATENT_CACHE_VERSION}`);
    const labels = tensors.get('labels');
    if (!labels || labels.dtype !== 'int32' || labels.shape.length !== 1) throw corrupt('it has no int32 `labels` [N]');
    this.labels = labels.data as Int32Array;
    this.length = labels.shape[0];
    this.classes = Number(meta.classes);
    this.source = meta.source;
    this.key = meta.key;
    this.resolution = Number(meta.resolution);
    this.flip = meta.flip === 'true';
    this.names = [...tensors.keys()].filter((n) => n.startsWith('image.')).map((n) => n.slice('image.'.length));
    if (this.names.length === 0) throw corrupt('it stores no `image.*` tensors');
    for (const name of this.names) {
      for (const prefix of this.flip ? ['image.', 'flip.'] : ['image.']) {
        const t = tensors.get(prefix + name);
        if (!t || t.shape[0] !== this.length) throw corrupt(`\`${prefix}${name}\` is missing or does not have ${this.length} rows`);
      }
    }
  }

  /** Opens a cache file; with `key`, a cache built for other weights or data is refused. */
  static open(file: string, key?: string): CachedLatentDataset {
    const { tensors, metadata } = readSafetensorsFile(file);
    const dataset = new CachedLatentDataset(file, tensors, metadata);
    if (key !== undefined && dataset.key !== key) {
      throw new TesseraError('CHECKPOINT_MISMATCH', `latent cache \`${file}\` was built for key ${dataset.key.slice(0, 12)}…, expected ${key.slice(0, 12)}… (other tokenizer weights, resolution, data or flip); rebuild it`, {
        subject: file, data: { file, key: dataset.key, expected: key },
      });
    }
    return dataset;
  }

  /** Item `index`; with `draws` (and mirrored entries) one uniform draw picks image or mirror. */
  get(index: number, draws?: DrawSource): LatentSample {
    const batch = this.batch(Int32Array.of(index), draws);
    const stored: Record<string, HostTensor> = {};
    for (const [name, t] of Object.entries(batch.stored)) stored[name] = hostTensor(t.dtype, t.shape.slice(1), t.data);
    return { stored, label: batch.labels[0], flipped: batch.flipped[0] === 1 };
  }

  /** Items `indices` stacked, one flip draw per item in order. */
  batch(indices: Int32Array, draws?: DrawSource): LatentBatch & { flipped: Uint8Array } {
    for (const i of indices) {
      if (!Number.isInteger(i) || i < 0 || i >= this.length) {
        throw new TesseraError('USAGE', `index ${i} is outside the latent cache of ${this.length} items (${this.file})`, { data: { index: i, length: this.length } });
      }
    }
    const flipped = new Uint8Array(indices.length);
    if (this.flip && draws) indices.forEach((_, b) => { flipped[b] = draws.uniform([1], 'latent cache flip')[0] < 0.5 ? 0 : 1; });
    const stored: Record<string, HostTensor> = {};
    for (const name of this.names) {
      const image = this.tensors.get(`image.${name}`) as HostTensor;
      const mirror = this.tensors.get(`flip.${name}`);
      const row = numel(image.shape.slice(1));
      const out = newLike(image.data, indices.length * row);
      indices.forEach((i, b) => {
        const from = (flipped[b] ? mirror as HostTensor : image).data;
        out.set(from.subarray(i * row, (i + 1) * row) as never, b * row);
      });
      stored[name] = hostTensor(image.dtype, [indices.length, ...image.shape.slice(1)], out);
    }
    return { stored, labels: Int32Array.from(indices, (i) => this.labels[i]), flipped };
  }
}

/** Shuffled epochs over a latent cache, with a seeded stream for the image/mirror choice (position resumable as `Batcher`'s). */
export class LatentBatcher {
  private readonly order: EpochOrder;
  private readonly flipRng: Rng;

  constructor(readonly dataset: CachedLatentDataset, readonly batchSize: number, readonly seed: number) {
    this.order = new EpochOrder(dataset.length, batchSize, seed);
    this.flipRng = new Rng(seed).fork(1);
  }

  get epoch(): number { return this.order.epoch; }
  get batchesPerEpoch(): number { return this.order.batchesPerEpoch; }

  next(): LatentBatch {
    const { stored, labels } = this.dataset.batch(this.order.nextIndices(), new SeededDraws(this.flipRng));
    return { stored, labels };
  }

  state(): BatcherState {
    return { ...this.order.state(), flipRngState: copySnapshot(this.flipRng.getState()) };
  }

  restore(s: BatcherState): void {
    if (!s.flipRngState) throw new TesseraError('CHECKPOINT_CORRUPT', 'the saved latent-cache position has no `flipRngState`', { data: {} });
    this.order.restore(s);
    this.flipRng.setState(copySnapshot(s.flipRngState));
  }
}

function newLike(data: HostData, length: number): Float32Array | Int32Array {
  if (data instanceof Float32Array) return new Float32Array(length);
  if (data instanceof Int32Array) return new Int32Array(length);
  throw new TesseraError('CHECKPOINT_UNSUPPORTED', 'latent caches hold float32 or int32 tensors', { data: {} });
}
