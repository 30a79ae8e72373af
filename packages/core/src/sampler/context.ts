/**
 * Context sequences for context-conditioned backbones (HART's text conditioning,
 * spec/hart.md §2.3) as the Sampler takes them: per image, T precomputed features of
 * width D, with an optional padding mask and position ids. Until a text-encoder plugin
 * exists they come from a safetensors file with the official names of HART's
 * `autoregressive_infer_cfg` inputs:
 *
 *   context               [N, T, D]  float32 / float16 / bfloat16 / float64 (Qwen2's last hidden states)
 *   context_mask          [N, T]     bool or integer/float 0/1 (optional; absent = all real)
 *   context_position_ids  [N, T]     integer (optional; absent = cumsum(mask) − 1)
 *
 * One row per image. `scripts/hart-context.py` writes such a file from prompts.
 */
import type { Engine } from '../engine/engine';
import type { ContextInput, ContextSpec } from '../contracts/backbone';
import { readSafetensorsFile } from '../checkpoint/safetensors';
import { TesseraError } from '../errors';
import { type HostTensor, toFloat32, toInt32 } from '../tensor/host';

/** Context rows in host memory: features [N, T, D] float32, mask [N, T] float32 0/1, position ids [N, T] int32. */
export interface HostContext {
  readonly features: Float32Array;
  readonly mask: Float32Array;
  readonly positions: Int32Array;
  readonly shape: readonly [number, number, number];
  /** Where the rows came from, for messages. */
  readonly source: string;
}

export const CONTEXT_TENSORS = { features: 'context', mask: 'context_mask', positions: 'context_position_ids' } as const;

/** Context rows from host tensors (features [N, T, D]; mask and position ids [N, T], optional). */
export function hostContext(features: HostTensor, mask?: HostTensor, positions?: HostTensor, source = 'context'): HostContext {
  const fail = (field: string, message: string): never => {
    throw new TesseraError('CONFIG_INVALID', `\`${source}\`: tensor \`${field}\` ${message}`, { subject: source, data: { field } });
  };
  if (features.shape.length !== 3) fail(CONTEXT_TENSORS.features, `has shape [${features.shape.join(', ')}]; expected [N, T, D] (images, context tokens, feature width)`);
  if (!['float32', 'float16', 'bfloat16', 'float64'].includes(features.dtype)) fail(CONTEXT_TENSORS.features, `has dtype ${features.dtype}; expected a float type`);
  const [N, T, D] = features.shape;
  for (const [field, t] of [[CONTEXT_TENSORS.mask, mask], [CONTEXT_TENSORS.positions, positions]] as const) {
    if (t && (t.shape.length !== 2 || t.shape[0] !== N || t.shape[1] !== T)) fail(field, `has shape [${t.shape.join(', ')}]; expected [${N}, ${T}] (one entry per context token of \`${CONTEXT_TENSORS.features}\`)`);
  }
  const m = mask ? toFloat32(mask) : new Float32Array(N * T).fill(1);
  if (mask && m.some((v) => v !== 0 && v !== 1)) fail(CONTEXT_TENSORS.mask, 'holds values other than 0 and 1');
  let pos: Int32Array;
  if (positions) {
    if (positions.dtype.startsWith('float')) fail(CONTEXT_TENSORS.positions, `has dtype ${positions.dtype}; expected an integer type`);
    pos = toInt32(positions);
  } else {
    pos = new Int32Array(N * T);
    for (let r = 0; r < N; r++) {
      let seen = 0;
      for (let j = 0; j < T; j++) pos[r * T + j] = (seen += m[r * T + j]) - 1;
    }
  }
  const f = toFloat32(features);
  if (!f.every(Number.isFinite)) fail(CONTEXT_TENSORS.features, 'holds NaN or infinite values');
  return { features: f, mask: m, positions: pos, shape: [N, T, D], source };
}

/** Reads a context file (see the file comment); errors name the file and the tensor. */
export function readContextFile(file: string): HostContext {
  const { tensors } = readSafetensorsFile(file);
  const features = tensors.get(CONTEXT_TENSORS.features);
  if (!features) {
    throw new TesseraError('CONFIG_INVALID', `\`${file}\`: no tensor \`${CONTEXT_TENSORS.features}\` [N, T, D]; found ${[...tensors.keys()].map((k) => `\`${k}\``).join(', ') || 'none'}`, { subject: file, data: { field: CONTEXT_TENSORS.features } });
  }
  return hostContext(features, tensors.get(CONTEXT_TENSORS.mask), tensors.get(CONTEXT_TENSORS.positions), file);
}

/** Checks context rows against what a backbone takes (`ContextSpec`) and the number of images. */
export function checkContext(ctx: HostContext, spec: ContextSpec, images: number, backbone: string): void {
  const [N, T, D] = ctx.shape;
  if (T !== spec.tokens || D !== spec.dim) {
    throw new TesseraError('CONFIG_INVALID', `\`${ctx.source}\`: tensor \`${CONTEXT_TENSORS.features}\` has shape [${N}, ${T}, ${D}]; \`${backbone}\` takes [N, ${spec.tokens}, ${spec.dim}] (its contextTokens, contextDim)`, { subject: ctx.source, data: { field: CONTEXT_TENSORS.features } });
  }
  if (N !== images) {
    throw new TesseraError('USAGE', `\`${ctx.source}\` holds ${N} context rows for ${images} images; give one row per image`, { subject: ctx.source, data: { rows: N, images } });
  }
}

/** Rows [from, to) of a host context as engine tensors (the caller disposes them). */
export function contextTensors(F: Engine, ctx: HostContext, from: number, to: number): Required<ContextInput> {
  const [, T, D] = ctx.shape;
  const n = to - from;
  return {
    features: F.tensor(ctx.features.slice(from * T * D, to * T * D), [n, T, D]),
    mask: F.tensor(ctx.mask.slice(from * T, to * T), [n, T]),
    positions: F.tensor(ctx.positions.slice(from * T, to * T), [n, T], 'int32'),
  };
}
