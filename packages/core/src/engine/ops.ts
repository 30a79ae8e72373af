/**
 * The op set: the only vocabulary model code uses to compute. Declared once here;
 * every engine implements the same list (tfjs executes eagerly with autodiff, the onnx
 * engine traces the same calls into a graph). Module code never imports an engine
 * library: it receives an `Engine` and calls these ops, like `torch.nn.functional`.
 *
 * Layout conventions follow PyTorch so that official state_dicts map 1:1:
 * images and feature maps are NCHW, conv weights OIHW, linear weights [out, in].
 */

export type DType = 'float32' | 'int32' | 'bool';

/** An engine-owned tensor handle. Only its shape and dtype are visible to model code. */
export interface Tensor {
  readonly shape: number[];
  readonly dtype: string;
}

export type TensorLike = Tensor | number;
export type InterpolationMode = 'nearest' | 'bilinear' | 'bicubic' | 'area';
export type GeluApproximation = 'none' | 'tanh';

export interface Conv2dOptions {
  stride?: number | [number, number];
  /** Symmetric zero padding per side, as PyTorch's `padding=`. */
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}

export interface AttentionOptions {
  /** Additive mask broadcastable to [B, H, Lq, Lk] (0 keeps, -Infinity drops). */
  mask?: Tensor;
  /** Softmax scale; default 1/sqrt(head dim). */
  scale?: number;
}

/** Op names, the single catalog engines are checked against (tfjs's kernel_names idea). */
export const OP_NAMES = [
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum',
  'equal', 'greater', 'greaterEqual', 'less', 'lessEqual', 'logicalAnd', 'logicalNot', 'where',
  'neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'sin', 'cos', 'tanh', 'sigmoid', 'erf',
  'floor', 'round', 'sign', 'relu', 'silu', 'gelu', 'clip', 'cast', 'stopGradient',
  'matmul', 'sum', 'mean', 'max', 'min', 'argmax', 'argmin', 'cumsum', 'softmax', 'logSoftmax',
  'reshape', 'transpose', 'concat', 'slice', 'stack', 'split', 'gather', 'gatherAlong', 'pad', 'tile',
  'broadcastTo', 'expandDims', 'squeeze', 'flip', 'oneHot', 'topk',
  'linear', 'embedding', 'layerNorm', 'groupNorm', 'conv2d', 'attention', 'interpolate',
] as const;

export type OpName = (typeof OP_NAMES)[number];

/** The computational op set. All ops are pure: inputs are never modified. */
export interface Ops {
  // elementwise, numpy broadcasting; numbers are float32 scalars (or int32 on int tensors)
  add(a: TensorLike, b: TensorLike): Tensor;
  sub(a: TensorLike, b: TensorLike): Tensor;
  mul(a: TensorLike, b: TensorLike): Tensor;
  div(a: TensorLike, b: TensorLike): Tensor;
  pow(a: TensorLike, b: TensorLike): Tensor;
  maximum(a: TensorLike, b: TensorLike): Tensor;
  minimum(a: TensorLike, b: TensorLike): Tensor;
  equal(a: TensorLike, b: TensorLike): Tensor;
  greater(a: TensorLike, b: TensorLike): Tensor;
  greaterEqual(a: TensorLike, b: TensorLike): Tensor;
  less(a: TensorLike, b: TensorLike): Tensor;
  lessEqual(a: TensorLike, b: TensorLike): Tensor;
  logicalAnd(a: Tensor, b: Tensor): Tensor;
  logicalNot(a: Tensor): Tensor;
  where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor;

  neg(x: Tensor): Tensor;
  abs(x: Tensor): Tensor;
  exp(x: Tensor): Tensor;
  log(x: Tensor): Tensor;
  sqrt(x: Tensor): Tensor;
  rsqrt(x: Tensor): Tensor;
  square(x: Tensor): Tensor;
  sin(x: Tensor): Tensor;
  cos(x: Tensor): Tensor;
  tanh(x: Tensor): Tensor;
  sigmoid(x: Tensor): Tensor;
  erf(x: Tensor): Tensor;
  floor(x: Tensor): Tensor;
  /** Round half to even, as torch.round. */
  round(x: Tensor): Tensor;
  sign(x: Tensor): Tensor;
  relu(x: Tensor): Tensor;
  /** x * sigmoid(x) */
  silu(x: Tensor): Tensor;
  /** 'none': 0.5x(1+erf(x/√2)); 'tanh': 0.5x(1+tanh(√(2/π)(x+0.044715x³))) */
  gelu(x: Tensor, approximate?: GeluApproximation): Tensor;
  clip(x: Tensor, min: number, max: number): Tensor;
  cast(x: Tensor, dtype: DType): Tensor;
  /** Identity whose gradient is zero (torch's `.detach()`). */
  stopGradient(x: Tensor): Tensor;

  /** Batched matmul with broadcasting of leading dims (torch.matmul). */
  matmul(a: Tensor, b: Tensor, transposeA?: boolean, transposeB?: boolean): Tensor;

  sum(x: Tensor, axes?: number | number[], keepDims?: boolean): Tensor;
  mean(x: Tensor, axes?: number | number[], keepDims?: boolean): Tensor;
  max(x: Tensor, axes?: number | number[], keepDims?: boolean): Tensor;
  min(x: Tensor, axes?: number | number[], keepDims?: boolean): Tensor;
  /** Index of the first maximum (int32). */
  argmax(x: Tensor, axis: number): Tensor;
  argmin(x: Tensor, axis: number): Tensor;
  cumsum(x: Tensor, axis: number): Tensor;
  softmax(x: Tensor, axis?: number): Tensor;
  logSoftmax(x: Tensor, axis?: number): Tensor;

  reshape(x: Tensor, shape: number[]): Tensor;
  transpose(x: Tensor, perm: number[]): Tensor;
  concat(xs: Tensor[], axis: number): Tensor;
  /** `size` entries of -1 take the rest of the axis. */
  slice(x: Tensor, begin: number[], size: number[]): Tensor;
  stack(xs: Tensor[], axis: number): Tensor;
  split(x: Tensor, sizes: number[], axis: number): Tensor[];
  /** index_select: picks whole slices of `axis` by int32 `indices` (any shape). */
  gather(x: Tensor, indices: Tensor, axis: number): Tensor;
  /** torch.gather: out[..i..] = x[..indices[..i..]..] along `axis`, same rank. */
  gatherAlong(x: Tensor, indices: Tensor, axis: number): Tensor;
  /** Constant padding, `[before, after]` per axis. */
  pad(x: Tensor, paddings: [number, number][], value?: number): Tensor;
  tile(x: Tensor, reps: number[]): Tensor;
  broadcastTo(x: Tensor, shape: number[]): Tensor;
  expandDims(x: Tensor, axis: number): Tensor;
  squeeze(x: Tensor, axes?: number[]): Tensor;
  flip(x: Tensor, axes: number[]): Tensor;
  oneHot(indices: Tensor, depth: number): Tensor;
  /** Largest k along the last axis, sorted descending; ties keep the lower index first. */
  topk(x: Tensor, k: number): { values: Tensor; indices: Tensor };

  // layers (fused where an engine can)
  /** x[..., in] @ weight[out, in]^T + bias[out] (torch.nn.functional.linear). */
  linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor;
  /** table[V, D] rows for int32 `indices`. */
  embedding(indices: Tensor, table: Tensor): Tensor;
  /** Normalises the last axis with biased variance. */
  layerNorm(x: Tensor, weight: Tensor | undefined, bias: Tensor | undefined, eps: number): Tensor;
  /** NCHW group norm. */
  groupNorm(x: Tensor, groups: number, weight: Tensor | undefined, bias: Tensor | undefined, eps: number): Tensor;
  /** NCHW input, OIHW weight. */
  conv2d(x: Tensor, weight: Tensor, bias?: Tensor, options?: Conv2dOptions): Tensor;
  /** Scaled dot-product attention over [B, H, L, D] q/k/v. */
  attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Tensor;
  /** NCHW resize to `size` = [H, W] with PyTorch semantics (align_corners=False, bicubic A=-0.75, no antialias). */
  interpolate(x: Tensor, size: [number, number], mode: InterpolationMode): Tensor;
}
