/**
 * Drawing tokens from categorical logits, as VAR samples one scale (paper arXiv
 * 2404.02905, §3 / App. sampling; official `models/helpers.py`
 * `sample_with_top_k_top_p_` and `gumbel_softmax_with_rng`, called from
 * `models/var.py` `autoregressive_infer_cfg`; spec var.md §7.2–§7.3).
 *
 * Everything here is a pure function over host rows `x_RV` (a Float32Array of R rows
 * of V logits, row-major) so the scale, raster and masked directions can share it.
 * The official float32 computation decides token indices, so the steps that choose
 * an index reproduce its float32 arithmetic with `Math.fround`: CFG mixing, the top-k
 * threshold, the top-p cumulative sums (accumulated in double and rounded per entry,
 * as torch's CPU cumsum does), the softmax, and the exponential race. Functions whose
 * names end in `_` modify their first argument in place, like the official code.
 *
 * One token per row is drawn as torch ≥ 2's `multinomial(π, 1)` does:
 * `argmax_v π_v / q_v` with `q ~ Exp(1)` drawn once per vocabulary entry
 * (`draws.exponential([R, V])`), first maximum on ties. That makes the recorded
 * `exp_q` draws of the fixtures replay exactly.
 */
import { DrawSource, TesseraError } from '@tessera/core';

const SUBJECT = 'head/categorical';
const f32 = Math.fround;

/** How the guidance scale moves over the AR steps. */
export type CfgSchedule = 'constant' | 'linear';

/** Position of `step` in a run of `steps` steps, 0 at the first and 1 at the last (VAR's `ratio = si / (K − 1)`). */
export function stepRatio(step: number, steps: number): number {
  if (!Number.isInteger(steps) || steps < 1 || !Number.isInteger(step) || step < 0 || step >= steps) {
    throw new TesseraError('USAGE', `step ${step} is outside a schedule of ${steps} steps`, { subject: SUBJECT, data: { step, steps } });
  }
  // A one-step run is its own last step.
  return steps === 1 ? 1 : step / (steps - 1);
}

/**
 * The guidance scale `s` at one AR step, in the contract's form: the guided logits are
 * `s·cond − (s − 1)·uncond`, so `s = 1` means no guidance. `linear` is VAR's ramp:
 * `s = 1 + (cfg − 1)·ratio`, i.e. VAR's `t = cfg_VAR·ratio` with `cfg = 1 + cfg_VAR`
 * (VAR's FID setting `cfg=1.5` is `cfg: 2.5` here).
 *
 * @example cfgAt(0, 10, 2.5, 'linear') === 1; cfgAt(9, 10, 2.5, 'linear') === 2.5
 */
export function cfgAt(step: number, steps: number, cfg: number, schedule: CfgSchedule): number {
  const ratio = stepRatio(step, steps);
  return schedule === 'constant' ? cfg : 1 + (cfg - 1) * ratio;
}

/**
 * Classifier-free guidance over stacked rows: `both_2RV` holds the R conditional rows
 * then the R null-condition rows; returns `(1 + t)·cond − t·uncond` with `t = scale − 1`
 * as R rows, in float32 as torch computes it (each product rounded, then the difference).
 */
export function mixGuidance(both_2RV: Float32Array, V: number, scale: number): Float32Array {
  const half = both_2RV.length / 2;
  if (!Number.isInteger(half / V)) {
    throw new TesseraError('SHAPE_MISMATCH', `guidance needs the conditional rows then as many null-condition rows; got ${both_2RV.length / V} rows`, {
      subject: SUBJECT, data: { rows: both_2RV.length / V },
    });
  }
  const t = scale - 1;
  const a = f32(1 + t), b = f32(t);
  const out_RV = new Float32Array(half);
  for (let i = 0; i < half; i++) out_RV[i] = f32(f32(a * both_2RV[i]) - f32(b * both_2RV[half + i]));
  return out_RV;
}

/** Divides logits by the temperature in place (skipped at 1, so VAR's logits keep their bits). */
export function applyTemperature_(x_RV: Float32Array, temperature: number): Float32Array {
  if (!(temperature > 0)) {
    throw new TesseraError('CONFIG_INVALID', `\`temperature\` must be > 0, got ${temperature}`, { subject: SUBJECT, data: { temperature } });
  }
  if (temperature === 1) return x_RV;
  const tau = f32(temperature);
  for (let i = 0; i < x_RV.length; i++) x_RV[i] = f32(x_RV[i] / tau);
  return x_RV;
}

/**
 * Top-k in place: per row, entries strictly below the k-th largest value become −∞
 * (ties at the threshold survive, so a row may keep more than k entries).
 */
export function topKFilter_(x_RV: Float32Array, V: number, k: number): Float32Array {
  if (!Number.isInteger(k) || k < 1 || k > V) {
    throw new TesseraError('CONFIG_INVALID', `\`topK\` must be an integer in [1, ${V}] (the vocabulary size), got ${k}; use null to turn it off`, {
      subject: SUBJECT, data: { topK: k, vocab: V },
    });
  }
  if (k === V) return x_RV;
  const row = new Float32Array(V);
  for (let r = 0; r < x_RV.length / V; r++) {
    const o = r * V;
    row.set(x_RV.subarray(o, o + V));
    const threshold = selectNth_(row, V - k); // the value a full ascending sort puts at V − k
    for (let v = 0; v < V; v++) if (x_RV[o + v] < threshold) x_RV[o + v] = -Infinity;
  }
  return x_RV;
}

/**
 * The value at position `n` of `a` sorted ascending, by Hoare quickselect (reorders `a`;
 * O(V) per row where a full sort is O(V log V)).
 */
function selectNth_(a: Float32Array, n: number): number {
  let lo = 0, hi = a.length - 1;
  while (hi > lo) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i]; a[i] = a[j]; a[j] = t;
        i++; j--;
      }
    }
    if (n <= j) hi = j;
    else if (n >= i) lo = i;
    else return a[n];
  }
  return a[n];
}

/**
 * Top-p (nucleus) in place: per row, sort ascending, take the softmax of the sorted
 * row and its cumulative sums from the smallest; entries whose cumulative sum is
 * `≤ 1 − p` become −∞, except the largest entry, which always survives.
 *
 * The ascending order (ties by index) is found by sorting one packed number per live
 * entry — the float32's order-preserving bit pattern times 2^b plus its index — with
 * the typed array's native sort, which is several times faster than a comparator sort.
 */
export function topPFilter_(x_RV: Float32Array, V: number, p: number): Float32Array {
  if (!(p > 0 && p <= 1)) {
    throw new TesseraError('CONFIG_INVALID', `\`topP\` must be in (0, 1], got ${p}; use null to turn it off`, { subject: SUBJECT, data: { topP: p } });
  }
  const threshold = f32(1 - p); // compared against a float32 tensor: the scalar is float32
  const order = new Int32Array(V);
  const sorted = new Float32Array(V);
  const probs = new Float32Array(V);
  const keys = new Float64Array(V);
  const bits = new Uint32Array(x_RV.buffer, x_RV.byteOffset, x_RV.length);
  const indexBits = Math.max(1, Math.ceil(Math.log2(V)));
  const packed = indexBits <= 21; // 32 value bits + the index stay exact in a double
  const scale = 2 ** indexBits;
  for (let r = 0; r < x_RV.length / V; r++) {
    const o = r * V;
    // Entries already at −∞ (top-k) sort first with probability exactly 0: their
    // cumulative sums stay 0 and they stay removed, so only the finite ones are sorted.
    let n = 0;
    if (packed) {
      for (let v = 0; v < V; v++) {
        const x = x_RV[o + v];
        if (x === -Infinity) continue;
        // −0 sorts as +0 (they compare equal); negatives flip all bits, positives the sign bit.
        const b = x === 0 ? 0 : bits[o + v];
        const ordered = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
        keys[n++] = ordered * scale + v;
      }
      keys.subarray(0, n).sort();
      for (let v = 0; v < n; v++) order[v] = keys[v] % scale;
    } else {
      for (let v = 0; v < V; v++) if (x_RV[o + v] !== -Infinity) order[n++] = v;
      order.subarray(0, n).sort((i, j) => x_RV[o + i] - x_RV[o + j] || i - j);
    }
    const live = order.subarray(0, n);
    const row = sorted.subarray(0, n);
    for (let v = 0; v < n; v++) row[v] = x_RV[o + live[v]];
    softmaxRow(row, probs);
    let cumulative = 0; // torch's CPU cumsum accumulates float32 in double
    for (let v = 0; v < n - 1; v++) {
      cumulative += probs[v];
      if (f32(cumulative) <= threshold) x_RV[o + live[v]] = -Infinity;
      else break; // the cumulative sums only grow: nothing later is removed
    }
  }
  return x_RV;
}

/** Softmax of one row in float32 as torch's CPU kernel: exp(x − max), summed, times 1/sum. */
function softmaxRow(x_V: Float32Array, out_V = new Float32Array(x_V.length)): Float32Array {
  const n = x_V.length;
  let max = -Infinity;
  for (let v = 0; v < n; v++) if (x_V[v] > max) max = x_V[v];
  // With a finite maximum a −∞ entry is exp(−∞) = 0 and adds nothing: skip its exp.
  const skipRemoved = max !== -Infinity;
  let sum = 0;
  for (let v = 0; v < n; v++) {
    const x = x_V[v];
    if (skipRemoved && x === -Infinity) { out_V[v] = 0; continue; }
    const e = f32(Math.exp(f32(x - max)));
    out_V[v] = e;
    sum += e;
  }
  const inv = f32(1 / f32(sum));
  for (let v = 0; v < n; v++) out_V[v] = f32(out_V[v] * inv);
  return out_V;
}

/** Row-wise softmax (−∞ entries get probability 0). */
export function softmaxRows(x_RV: Float32Array, V: number): Float32Array {
  const out_RV = new Float32Array(x_RV.length);
  for (let o = 0; o < x_RV.length; o += V) softmaxRow(x_RV.subarray(o, o + V), out_RV.subarray(o, o + V));
  return out_RV;
}

/** Index of the first maximum of each row. */
export function argmaxRows(x_RV: Float32Array, V: number): Int32Array {
  const idx_R = new Int32Array(x_RV.length / V);
  for (let r = 0; r < idx_R.length; r++) {
    const o = r * V;
    let best = 0;
    for (let v = 1; v < V; v++) if (x_RV[o + v] > x_RV[o + best]) best = v;
    idx_R[r] = best;
  }
  return idx_R;
}

/**
 * One draw per row from probabilities `probs_RV` by the exponential race
 * `argmax_v π_v / q_v`, `q ~ Exp(1)` with one `q` per vocabulary entry — torch ≥ 2's
 * `multinomial(π, 1, replacement=True)`. Consumes `draws.exponential([R, V])`.
 */
export function drawByExponentialRace(probs_RV: Float32Array, V: number, draws: DrawSource): Int32Array {
  const R = probs_RV.length / V;
  const q_RV = draws.exponential([R, V], 'exp_q');
  const ratio_RV = new Float32Array(probs_RV.length);
  for (let i = 0; i < ratio_RV.length; i++) ratio_RV[i] = f32(probs_RV[i] / q_RV[i]);
  return argmaxRows(ratio_RV, V);
}

/** The Gumbel-softmax temperature of VAR's `more_smooth` at progress `ratio` (MaskGIT-style). */
export function smoothTau(ratio: number): number {
  return Math.max(0.27 * (1 - ratio * 0.95), 0.005);
}

/**
 * VAR's `more_smooth` code weights: `softmax((filtered·(1 + ratio) + g) / τ)` with
 * Gumbel noise `g = −ln e`, `e ~ Exp(1)` (`draws.exponential([R, V])`, drawn after the
 * token draw) and `τ = smoothTau(ratio)`. Masked (−∞) entries get weight 0. Returns the
 * weights [R, V]; the code map is `weights @ codebook`.
 */
export function gumbelSmoothWeights(filtered_RV: Float32Array, V: number, ratio: number, draws: DrawSource): Float32Array {
  const e_RV = draws.exponential([filtered_RV.length / V, V], 'gumbel_exp');
  const gain = f32(1 + ratio), tau = f32(smoothTau(ratio));
  const y_RV = new Float32Array(filtered_RV.length);
  for (let i = 0; i < y_RV.length; i++) {
    const gumbel = f32(-f32(Math.log(e_RV[i])));
    y_RV[i] = f32(f32(f32(filtered_RV[i] * gain) + gumbel) / tau);
  }
  return softmaxRows(y_RV, V);
}

/** Settings of one sampling call. `topK`/`topP` null (or absent) = that filter is off. */
export interface TokenSamplingSettings {
  temperature?: number;
  topK?: number | null;
  topP?: number | null;
  /** Argmax of the filtered logits; draws nothing. */
  greedy?: boolean;
  /** Also return VAR's Gumbel-smoothed code weights; needs `ratio`. */
  smooth?: boolean;
  /** Step progress in [0, 1] (the smoothing schedule reads it). */
  ratio?: number;
}

export interface TokenSamplingResult {
  /** Sampled index per row, [R]. */
  idx_R: Int32Array;
  /** Logits after temperature, top-k then top-p (−∞ = removed), [R, V]. */
  filtered_RV: Float32Array;
  /** softmax(filtered), [R, V]. */
  probs_RV: Float32Array;
  /** Gumbel-smoothed code weights [R, V] when `smooth`. */
  smoothWeights_RV?: Float32Array;
}

/**
 * The whole per-step sampler on guided logits `logits_RV` (modified in place, as the
 * official filter is): temperature, top-k, then top-p; then one token per row (greedy,
 * or the exponential race); then, with `smooth`, the Gumbel code weights.
 */
export function sampleTokens_(logits_RV: Float32Array, V: number, settings: TokenSamplingSettings, draws: DrawSource): TokenSamplingResult {
  const filtered_RV = applyTemperature_(logits_RV, settings.temperature ?? 1);
  if (settings.topK != null) topKFilter_(filtered_RV, V, settings.topK);
  if (settings.topP != null) topPFilter_(filtered_RV, V, settings.topP);
  const probs_RV = softmaxRows(filtered_RV, V);
  const idx_R = settings.greedy ? argmaxRows(filtered_RV, V) : drawByExponentialRace(probs_RV, V, draws);
  const result: TokenSamplingResult = { idx_R, filtered_RV, probs_RV };
  if (settings.smooth) {
    if (settings.ratio === undefined || !(settings.ratio >= 0 && settings.ratio <= 1)) {
      throw new TesseraError('USAGE', `Gumbel smoothing needs the step progress \`ratio\` in [0, 1], got ${settings.ratio}`, {
        subject: SUBJECT, data: { ratio: settings.ratio },
      });
    }
    result.smoothWeights_RV = gumbelSmoothWeights(filtered_RV, V, settings.ratio, draws);
  }
  return result;
}
