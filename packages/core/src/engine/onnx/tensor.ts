/**
 * Tensors of the onnx engine and their lifetimes. A tensor is either concrete (host data,
 * produced by an eager op or a compiled call) or symbolic (a value of a graph being
 * traced). Lifetimes follow tfjs's rules, so model code and the parity runner's leak
 * check behave alike on both engines: `tidy` frees what its function made except what it
 * returns (deep) or `keep`s; `dispose` is idempotent; `liveTensors` counts concrete
 * tensors only (symbolic ones hold no memory).
 */
import type { TypedData } from '../engine';
import type { DType, Tensor } from '../ops';
import { TesseraError } from '../../errors';
import type { Value } from './graph';

/** What a symbolic tensor refers to: a value of one trace's graph. */
export interface SymbolRef {
  readonly trace: { readonly closed: boolean };
  readonly value: Value;
}

let nextId = 0;

export class OnnxTensor implements Tensor {
  readonly id = nextId++;
  readonly shape: number[];
  disposed = false;
  kept = false;

  constructor(
    shape: readonly number[],
    readonly dtype: DType,
    private host: TypedData | undefined,
    readonly symbol: SymbolRef | undefined,
  ) {
    this.shape = [...shape];
  }

  get isSymbolic(): boolean {
    return this.symbol !== undefined;
  }

  /** Host data of a concrete tensor. */
  get data(): TypedData {
    if (this.symbol) {
      throw new TesseraError('OP_UNSUPPORTED', 'a traced tensor has no value while its function is being traced; read values outside `compile`d functions, or return them as outputs', {
        data: { shape: this.shape },
      });
    }
    if (this.disposed || !this.host) throw new TesseraError('OP_UNSUPPORTED', `tensor [${this.shape.join(', ')}] was already disposed`, { data: { shape: this.shape } });
    return this.host;
  }

  release(): void {
    this.disposed = true;
    this.host = undefined;
  }
}

/** Ids of tensors made from now on are at least this (traces tell their own tensors from captured ones). */
export function peekTensorId(): number {
  return nextId;
}

/** Scopes and the live set. */
export class TensorStore {
  private readonly live = new Set<OnnxTensor>();
  private readonly scopes: Set<OnnxTensor>[] = [];

  track(t: OnnxTensor, scoped = true): OnnxTensor {
    if (!t.isSymbolic) this.live.add(t);
    if (scoped && this.scopes.length) this.scopes[this.scopes.length - 1].add(t);
    else t.kept = t.kept || !scoped;
    return t;
  }

  count(): number {
    return this.live.size;
  }

  dispose(t: OnnxTensor): void {
    this.live.delete(t);
    t.release();
  }

  keep(t: OnnxTensor): void {
    t.kept = true;
    for (const s of this.scopes) s.delete(t);
  }

  tidy<R>(fn: () => R): R {
    const scope = new Set<OnnxTensor>();
    this.scopes.push(scope);
    let result: R | undefined;
    try {
      result = fn();
      return result;
    } finally {
      this.scopes.pop();
      const returned = new Set<OnnxTensor>();
      collectTensors(result, returned, 0);
      const parent = this.scopes[this.scopes.length - 1];
      for (const t of scope) {
        if (returned.has(t)) parent?.add(t);
        else if (!t.kept) this.dispose(t);
      }
    }
  }
}

/** Tensors inside a returned value: arrays, maps and plain objects, as tfjs's tidy walks them. */
export function collectTensors(x: unknown, out: Set<OnnxTensor>, depth: number): void {
  if (depth > 16 || x === null || typeof x !== 'object') return;
  if (x instanceof OnnxTensor) out.add(x);
  else if (Array.isArray(x)) for (const v of x) collectTensors(v, out, depth + 1);
  else if (x instanceof Map) for (const v of x.values()) collectTensors(v, out, depth + 1);
  else if (Object.getPrototypeOf(x) === Object.prototype) for (const v of Object.values(x)) collectTensors(v, out, depth + 1);
}
