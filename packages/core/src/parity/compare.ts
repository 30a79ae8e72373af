/** Comparing produced tensors with expected ones under a manifest's tolerance. */
import { HostTensor, sameShape, toFloat64 } from '../tensor/host';
import type { Tolerance } from './types';

export interface Comparison {
  name: string;
  ok: boolean;
  maxAbsError: number;
  exact: boolean;
  detail?: string;
}

export function compareTensor(name: string, tensorName: string, got: HostTensor | undefined, expected: HostTensor, tol: Tolerance): Comparison {
  const exact = tol.exact.includes(tensorName) || tol.exact.includes(name);
  if (!got) return { name, ok: false, maxAbsError: Infinity, exact, detail: 'not produced' };
  if (!sameShape(got.shape, expected.shape)) {
    return { name, ok: false, maxAbsError: Infinity, exact, detail: `shape [${got.shape.join(', ')}] != expected [${expected.shape.join(', ')}]` };
  }
  const a = toFloat64(got);
  const b = toFloat64(expected);
  const over = tol.per_output?.[name] ?? tol.per_output?.[tensorName] ?? {};
  const atol = exact ? 0 : over.atol ?? tol.atol;
  const rtol = exact ? 0 : over.rtol ?? tol.rtol;
  let maxAbs = 0;
  let bad = 0;
  let firstBad = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    const nanMismatch = Number.isNaN(a[i]) !== Number.isNaN(b[i]);
    if (d > maxAbs || nanMismatch) maxAbs = nanMismatch ? Infinity : d;
    if (nanMismatch || d > atol + rtol * Math.abs(b[i])) {
      bad++;
      if (firstBad < 0) firstBad = i;
    }
  }
  return {
    name,
    ok: bad === 0,
    maxAbsError: maxAbs,
    exact,
    detail: bad ? `${bad}/${a.length} elements out of tolerance (first at ${firstBad}: got ${a[firstBad]}, expected ${b[firstBad]})` : undefined,
  };
}
