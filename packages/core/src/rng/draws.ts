/**
 * The draw source: every random draw in training and sampling goes through one, so a
 * run can be driven by its seeded RNG or replay the draws the official code recorded
 * (fixture `noise.*` tensors, in call order). Each method names the distribution the
 * official code sampled, so a replay checks it is answering the same question.
 */
import { TesseraError } from '../errors';
import { HostTensor, numel, toFloat32, toInt32 } from '../tensor/host';
import { Rng } from './rng';

export type DrawKind = 'normal' | 'uniform' | 'integers' | 'permutation' | 'exponential' | 'truncatedNormal' | 'multinomial';

export interface DrawSource {
  /** Standard normal, float32 (torch.randn). */
  normal(shape: readonly number[], label?: string): Float32Array;
  /** Uniform on [0, 1), float32 (torch.rand). */
  uniform(shape: readonly number[], label?: string): Float32Array;
  /** Integers in [low, high) (torch.randint). */
  integers(shape: readonly number[], low: number, high: number, label?: string): Int32Array;
  /** A random permutation of 0..n-1 (np.random.shuffle of arange(n)). */
  permutation(n: number, label?: string): Int32Array;
  /** Exp(1), float32 (Tensor.exponential_). */
  exponential(shape: readonly number[], label?: string): Float32Array;
  /** Normal(mean, std) truncated to [low, high] (scipy truncnorm). */
  truncatedNormal(shape: readonly number[], mean: number, std: number, low: number, high: number, label?: string): Float32Array;
  /** `numSamples` indices per row of unnormalised non-negative `weights` [rows, cols], with replacement (torch.multinomial). */
  multinomial(weights: Float32Array, rows: number, cols: number, numSamples: number, label?: string): Int32Array;
}

/** Draws from a seeded generator. */
export class SeededDraws implements DrawSource {
  constructor(readonly rng: Rng) {}

  static fromSeed(seed: number): SeededDraws {
    return new SeededDraws(new Rng(seed));
  }

  normal(shape: readonly number[]): Float32Array {
    const out = new Float32Array(numel(shape));
    for (let i = 0; i < out.length; i++) out[i] = this.rng.normal();
    return out;
  }
  uniform(shape: readonly number[]): Float32Array {
    const out = new Float32Array(numel(shape));
    for (let i = 0; i < out.length; i++) out[i] = Math.min(Math.fround(this.rng.uniform()), 0.99999994);
    return out;
  }
  integers(shape: readonly number[], low: number, high: number): Int32Array {
    const out = new Int32Array(numel(shape));
    for (let i = 0; i < out.length; i++) out[i] = this.rng.integer(low, high);
    return out;
  }
  permutation(n: number): Int32Array {
    const out = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.rng.integer(0, i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }
  exponential(shape: readonly number[]): Float32Array {
    const out = new Float32Array(numel(shape));
    for (let i = 0; i < out.length; i++) out[i] = -Math.log1p(-this.rng.uniform());
    return out;
  }
  truncatedNormal(shape: readonly number[], mean: number, std: number, low: number, high: number): Float32Array {
    if (!(low < high)) throw new TesseraError('DRAW_MISMATCH', `truncatedNormal needs low < high, got [${low}, ${high}]`);
    const out = new Float32Array(numel(shape));
    for (let i = 0; i < out.length; i++) {
      let v: number;
      // Rejection is fine for the truncations used here (at least ~half the mass kept).
      do v = mean + std * this.rng.normal(); while (v < low || v > high);
      out[i] = v;
    }
    return out;
  }
  multinomial(weights: Float32Array, rows: number, cols: number, numSamples: number): Int32Array {
    const out = new Int32Array(rows * numSamples);
    for (let r = 0; r < rows; r++) {
      let total = 0;
      for (let c = 0; c < cols; c++) total += weights[r * cols + c];
      for (let s = 0; s < numSamples; s++) {
        let u = this.rng.uniform() * total;
        let pick = cols - 1;
        for (let c = 0; c < cols; c++) {
          u -= weights[r * cols + c];
          if (u < 0) { pick = c; break; }
        }
        out[r * numSamples + s] = pick;
      }
    }
    return out;
  }
}

export interface RecordedDraw {
  name: string;
  tensor: HostTensor;
}

/**
 * Replays recorded draws in order. A call whose element count differs from the next
 * recorded draw is an error naming both, so a replay that drifts out of step fails
 * loudly at the first divergence instead of producing plausible garbage.
 */
export class ReplayDraws implements DrawSource {
  private next = 0;

  constructor(private readonly draws: RecordedDraw[], private readonly source = 'replay') {}

  get consumed(): number { return this.next; }
  get remaining(): number { return this.draws.length - this.next; }

  private take(kind: DrawKind, count: number, label?: string): HostTensor {
    const d = this.draws[this.next];
    if (!d) {
      throw new TesseraError('DRAWS_EXHAUSTED', `${this.source}: asked for draw #${this.next} (${kind}${label ? `, ${label}` : ''}, ${count} values) but only ${this.draws.length} were recorded`, {
        data: { index: this.next, kind, count },
      });
    }
    if (numel(d.tensor.shape) !== count) {
      throw new TesseraError('DRAW_MISMATCH', `${this.source}: draw #${this.next} \`${d.name}\` has shape [${d.tensor.shape.join(', ')}] but the code asked for ${count} values (${kind}${label ? `, ${label}` : ''})`, {
        data: { index: this.next, name: d.name, kind, count, shape: [...d.tensor.shape] },
      });
    }
    this.next++;
    return d.tensor;
  }

  normal(shape: readonly number[], label?: string): Float32Array { return toFloat32(this.take('normal', numel(shape), label)); }
  uniform(shape: readonly number[], label?: string): Float32Array { return toFloat32(this.take('uniform', numel(shape), label)); }
  integers(shape: readonly number[], _low: number, _high: number, label?: string): Int32Array { return toInt32(this.take('integers', numel(shape), label)); }
  permutation(n: number, label?: string): Int32Array { return toInt32(this.take('permutation', n, label)); }
  exponential(shape: readonly number[], label?: string): Float32Array { return toFloat32(this.take('exponential', numel(shape), label)); }
  truncatedNormal(shape: readonly number[], _m: number, _s: number, _l: number, _h: number, label?: string): Float32Array {
    return toFloat32(this.take('truncatedNormal', numel(shape), label));
  }
  multinomial(_w: Float32Array, rows: number, _cols: number, numSamples: number, label?: string): Int32Array {
    return toInt32(this.take('multinomial', rows * numSamples, label));
  }
}
