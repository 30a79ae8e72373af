/**
 * Shuffled epochs of fixed-size batches, as the official loaders build them
 * (`DataLoader(shuffle=True, drop_last=True)` in LTH14/mar `main_mar.py`): each epoch is
 * a fresh permutation of the dataset, an incomplete last batch is dropped, and the next
 * epoch starts. The order comes from core's seeded `Rng`, never from the training draw
 * source, so the data order does not depend on how many draws the model made.
 *
 * The position is serializable: the epoch, the index within its permutation, and the
 * generator state at the start of that epoch (the permutation is drawn again on
 * restore). With the optional flip stream (its own generator, state saved too) a
 * restored batcher yields bit-identical batches.
 */
import { TesseraError } from '../errors';
import { SeededDraws } from '../rng/draws';
import { Rng, type RngState } from '../rng/rng';
import { randomFlip } from './transforms';
import type { Dataset } from './types';

export interface RngSnapshot {
  words: RngState;
  spareNormal: number | null;
}

export interface BatcherState {
  seed: number;
  length: number;
  batchSize: number;
  epoch: number;
  /** Index of the next batch's first element in the epoch's permutation. */
  index: number;
  /** Shuffle generator state at the start of `epoch`, before its permutation was drawn. */
  rngState: RngSnapshot;
  /** Flip generator state now (batchers made with `flip: true`). */
  flipRngState?: RngSnapshot;
}

export interface BatcherOptions {
  /** RandomHorizontalFlip (p 0.5) on every image, from a seeded stream of its own. */
  flip?: boolean;
}

export interface Batch {
  /** [B, 3, R, R] */
  images: Float32Array;
  labels: Int32Array;
}

/** The index order of shuffled epochs with drop-last batching, and its resumable position. */
export class EpochOrder {
  private readonly rng: Rng;
  private order: Int32Array = new Int32Array(0);
  private epochStart!: RngSnapshot;
  private epochIndex = 0;
  private position = 0;

  constructor(readonly length: number, readonly batchSize: number, readonly seed: number) {
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new TesseraError('CONFIG_INVALID', `batch size must be a positive integer, got ${batchSize}`, { data: { batchSize } });
    }
    if (batchSize > length) {
      throw new TesseraError('CONFIG_INVALID', `batch size ${batchSize} exceeds the dataset's ${length} items; incomplete batches are dropped, so no batch could be made. Use a batch of at most ${length}.`, {
        data: { batchSize, length },
      });
    }
    this.rng = new Rng(seed);
    this.startEpoch(0);
  }

  get epoch(): number { return this.epochIndex; }
  /** Full batches per epoch. */
  get batchesPerEpoch(): number { return Math.floor(this.length / this.batchSize); }

  /** Dataset indices of the next batch. */
  nextIndices(): Int32Array {
    if (this.position + this.batchSize > this.length) this.startEpoch(this.epochIndex + 1);
    const out = this.order.slice(this.position, this.position + this.batchSize);
    this.position += this.batchSize;
    return out;
  }

  state(): Omit<BatcherState, 'flipRngState'> {
    return { seed: this.seed, length: this.length, batchSize: this.batchSize, epoch: this.epochIndex, index: this.position, rngState: copySnapshot(this.epochStart) };
  }

  restore(s: BatcherState): void {
    const mismatched = (['seed', 'length', 'batchSize'] as const).filter((k) => s[k] !== this[k]);
    if (mismatched.length > 0) {
      throw new TesseraError('CHECKPOINT_MISMATCH', `the saved data position was made for ${mismatched.map((k) => `${k} ${s[k]}`).join(', ')}, this batcher has ${mismatched.map((k) => `${k} ${this[k]}`).join(', ')}; resume with the same data, batch size and seed`, {
        data: { mismatched, saved: { seed: s.seed, length: s.length, batchSize: s.batchSize } },
      });
    }
    if (!Number.isInteger(s.index) || s.index < 0 || s.index > this.length || !Number.isInteger(s.epoch) || s.epoch < 0) {
      throw new TesseraError('CHECKPOINT_CORRUPT', `the saved data position (epoch ${s.epoch}, index ${s.index}) is not valid for ${this.length} items`, { data: { epoch: s.epoch, index: s.index } });
    }
    this.rng.setState(copySnapshot(s.rngState));
    this.startEpoch(s.epoch);
    this.position = s.index;
  }

  private startEpoch(epoch: number): void {
    this.epochIndex = epoch;
    this.epochStart = this.rng.getState();
    this.order = new SeededDraws(this.rng).permutation(this.length);
    this.position = 0;
  }
}

/**
 * Batches of a dataset in shuffled epochs.
 * @example
 * const batcher = new Batcher(dataset, 64, seed);
 * const { images, labels } = await batcher.next(); // images: [64, 3, R, R]
 * checkpoint.data = batcher.state(); ... batcher.restore(checkpoint.data);
 */
export class Batcher {
  private readonly order: EpochOrder;
  private readonly flipRng: Rng | undefined;

  constructor(readonly dataset: Dataset, readonly batchSize: number, readonly seed: number, options: BatcherOptions = {}) {
    this.order = new EpochOrder(dataset.length, batchSize, seed);
    this.flipRng = options.flip ? new Rng(seed).fork(1) : undefined;
  }

  get epoch(): number { return this.order.epoch; }
  get batchesPerEpoch(): number { return this.order.batchesPerEpoch; }

  async next(): Promise<Batch> {
    const indices = this.order.nextIndices();
    const samples = await Promise.all(Array.from(indices, (i) => this.dataset.get(i)));
    const size = samples[0].image.length;
    const side = Math.round(Math.sqrt(size / 3));
    const images = new Float32Array(samples.length * size);
    const labels = new Int32Array(samples.length);
    const draws = this.flipRng ? new SeededDraws(this.flipRng) : undefined;
    samples.forEach((s, b) => {
      if (s.image.length !== size) {
        throw new TesseraError('SHAPE_MISMATCH', `${this.dataset.source}: item ${indices[b]} has ${s.image.length} values, item ${indices[0]} has ${size}; every image must have the same size`, {
          data: { index: indices[b], got: s.image.length, expected: size },
        });
      }
      images.set(draws ? randomFlip(s.image, side, draws) : s.image, b * size);
      labels[b] = s.label;
    });
    return { images, labels };
  }

  state(): BatcherState {
    return { ...this.order.state(), ...(this.flipRng ? { flipRngState: copySnapshot(this.flipRng.getState()) } : {}) };
  }

  restore(s: BatcherState): void {
    if (Boolean(this.flipRng) !== Boolean(s.flipRngState)) {
      throw new TesseraError('CHECKPOINT_MISMATCH', `the saved data position was made ${s.flipRngState ? 'with' : 'without'} random flips and this batcher ${this.flipRng ? 'flips' : 'does not flip'}; resume with the same flip setting`, {
        data: { savedFlip: Boolean(s.flipRngState), flip: Boolean(this.flipRng) },
      });
    }
    this.order.restore(s);
    if (this.flipRng && s.flipRngState) this.flipRng.setState(copySnapshot(s.flipRngState));
  }
}

export function copySnapshot(s: RngSnapshot): RngSnapshot {
  return { words: [...s.words] as RngState, spareNormal: s.spareNormal };
}
