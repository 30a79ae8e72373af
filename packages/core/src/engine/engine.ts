/**
 * The engine seam. An engine executes the op set and owns tensor memory; model code
 * receives one by injection (the `ENGINE` token of its generator's container), so two
 * engines can run side by side in one process.
 */
import type { HostTensor } from '../tensor/host';
import type { DType, Ops, Tensor } from './ops';

export type TypedData = Float32Array | Int32Array | Uint8Array;

/** A trainable tensor slot; `value` changes when an optimizer assigns to it. */
export interface Variable {
  readonly name: string;
  readonly value: Tensor;
  assign(value: Tensor): void;
}

export interface EngineInfo {
  /** `tfjs` or `onnx` */
  readonly name: string;
  /** The concrete executor: `tensorflow` (tfjs-node), `cpu`, `wasm`, `cuda`, ... */
  readonly backend: string;
  /** Whether `valueAndGrads` is available. */
  readonly differentiable: boolean;
}

export interface Engine extends Ops {
  readonly info: EngineInfo;

  /** A device tensor from JS data; float64/int64 host data are narrowed to float32/int32. */
  tensor(data: TypedData | number[], shape: readonly number[], dtype?: DType): Tensor;
  fromHost(t: HostTensor): Tensor;
  zeros(shape: readonly number[], dtype?: DType): Tensor;
  ones(shape: readonly number[], dtype?: DType): Tensor;
  full(shape: readonly number[], value: number, dtype?: DType): Tensor;
  /** [start, stop) with step 1 (int32) */
  arange(start: number, stop: number): Tensor;

  read(x: Tensor): Promise<TypedData>;
  readSync(x: Tensor): TypedData;

  /** Frees every tensor made inside `fn` except those it returns (deep). */
  tidy<T>(fn: () => T): T;
  dispose(x: Tensor | Tensor[] | undefined): void;
  /** Keeps `x` alive past the enclosing tidy. */
  keep<T extends Tensor>(x: T): T;
  /** Live tensors owned by this engine (leak checks). */
  liveTensors(): number;

  variable(initial: Tensor, name: string, trainable?: boolean): Variable;
  /** Value of `f` and d f / d v for each variable (f must return a scalar). */
  valueAndGrads(f: () => Tensor, variables: Variable[]): { value: Tensor; grads: Tensor[] };
}

export const tensorShape = (x: Tensor): number[] => x.shape;
