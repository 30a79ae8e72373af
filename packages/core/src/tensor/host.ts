/**
 * Host tensors: plain typed arrays with a shape and dtype, living in JS memory.
 * Checkpoints, fixtures and random draws are host tensors; engines turn them into
 * device tensors. Float64 and int64 are kept as read (Float64Array, BigInt64Array)
 * so that importers lose nothing; `toFloat32`/`toInt32` narrow explicitly.
 */
import { TesseraError } from '../errors';

export type HostDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export type HostData = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array | BigInt64Array;

export interface HostTensor {
  readonly dtype: HostDType;
  readonly shape: readonly number[];
  /** Row-major (C order) data. float16/bfloat16 keep their raw bits in a Uint16Array. */
  readonly data: HostData;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function hostTensor(dtype: HostDType, shape: readonly number[], data: HostData): HostTensor {
  if (numel(shape) !== data.length) {
    throw new TesseraError('SHAPE_MISMATCH', `data of length ${data.length} does not fill shape [${shape.join(', ')}]`, {
      data: { shape: [...shape], length: data.length },
    });
  }
  return { dtype, shape: [...shape], data };
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

const bf16Scratch = new DataView(new ArrayBuffer(4));
function bfloat16ToFloat(h: number): number {
  bf16Scratch.setUint32(0, h << 16);
  return bf16Scratch.getFloat32(0);
}

/** Values as float32 (exact for float32; rounded for float64; widened for halves and ints). */
export function toFloat32(t: HostTensor): Float32Array {
  const d = t.data;
  if (d instanceof Float32Array) return d;
  const out = new Float32Array(d.length);
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') {
    const conv = t.dtype === 'float16' ? halfToFloat : bfloat16ToFloat;
    for (let i = 0; i < d.length; i++) out[i] = conv((d as Uint16Array)[i]);
  } else if (d instanceof BigInt64Array) {
    for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
  } else {
    for (let i = 0; i < d.length; i++) out[i] = d[i] as number;
  }
  return out;
}

/** Values as int32; throws when an int64 value does not fit. */
export function toInt32(t: HostTensor): Int32Array {
  const d = t.data;
  if (d instanceof Int32Array) return d;
  const out = new Int32Array(d.length);
  for (let i = 0; i < d.length; i++) {
    const v = Number(d[i] as number | bigint);
    if (!Number.isInteger(v) || v > 2147483647 || v < -2147483648) {
      throw new TesseraError('SHAPE_MISMATCH', `value ${v} at index ${i} does not fit int32`, { data: { index: i } });
    }
    out[i] = v;
  }
  return out;
}

/** Values as float64 numbers (for schedules computed in double precision). */
export function toFloat64(t: HostTensor): Float64Array {
  const d = t.data;
  if (d instanceof Float64Array) return d;
  const f = d instanceof Float32Array ? d : toFloat32(t);
  return Float64Array.from(f);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
