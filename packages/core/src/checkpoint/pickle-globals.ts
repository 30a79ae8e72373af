/**
 * The values a restricted unpickle produces, and the allow-list of Python globals it may
 * resolve. This file is the whole attack surface of loading a `.pth`: each entry below
 * turns arguments into plain data with code written here, and nothing else can be named
 * by a pickle (`pickle.ts` refuses any other GLOBAL with PICKLE_FORBIDDEN_GLOBAL). The
 * list covers what state_dict checkpoints need and is kept to that on purpose.
 *
 * Python values map to: None -> null, bool, int -> number (bigint beyond 2^53), float ->
 * number, str -> string, bytes -> Uint8Array, list/tuple -> array (tuples frozen),
 * dict/OrderedDict -> Map, argparse.Namespace -> plain object of its attributes, torch
 * dtypes -> HostDType strings, tensors -> whatever the `rebuildTensor` hook returns.
 */
import { TesseraError } from '../errors';
import { toFloat32, type HostDType, type HostTensor } from '../tensor/host';

/** Something a pickle can hold that is not plain data (a storage type, a storage, ...). */
export class PickleOpaque {
  constructor(readonly description: string) {}
}

export type PickleDict = Map<PickleValue, PickleValue>;
/** Attributes of an object decoded without calling it (argparse.Namespace). */
export interface PickleObject { [attribute: string]: PickleValue }
export type PickleValue =
  | null | boolean | number | bigint | string | Uint8Array | HostTensor
  | PickleValue[] | PickleDict | PickleObject | PickleOpaque;

/** A torch `*Storage` class as named in a persistent id: it only says the element dtype. */
export class TorchStorageType extends PickleOpaque {
  constructor(name: string, readonly dtype: HostDType) {
    super(`torch.${name}`);
  }
}

/** What the allow-list's decoders need from the unpickler. */
export interface GlobalContext {
  corrupt(what: string): TesseraError;
  unsupported(what: string): TesseraError;
  /** Registers what BUILD does on `obj` (only objects registered here accept a state). */
  onBuild(obj: object, build: (state: PickleValue) => void): void;
  rebuildTensor?: (storage: PickleValue, offset: number, size: number[], stride: number[]) => HostTensor;
}

type Decoder = (args: readonly PickleValue[], ctx: GlobalContext) => PickleValue;

/** An allowed global that can be called (REDUCE) or instantiated (NEWOBJ); plain values are pushed as they are. */
export class PickleGlobal extends PickleOpaque {
  constructor(readonly name: string, readonly call?: Decoder, readonly construct?: Decoder) {
    super(name);
  }
}

const STORAGE_DTYPES: Readonly<Record<string, HostDType>> = {
  FloatStorage: 'float32', DoubleStorage: 'float64', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8', ByteStorage: 'uint8', BoolStorage: 'bool',
};
const TORCH_DTYPES: readonly HostDType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];

const fn = (name: string, call: Decoder): [string, () => PickleValue] => [name, () => new PickleGlobal(name, call)];

/** The allow-list, by `module.name`; each entry makes the value a GLOBAL pushes. */
export const ALLOWED_GLOBALS: ReadonlyMap<string, () => PickleValue> = new Map<string, () => PickleValue>([
  // A state_dict is an OrderedDict filled by SETITEMS after `OrderedDict()`.
  fn('collections.OrderedDict', (args, ctx) => (expectArgs('collections.OrderedDict', args, 0, ctx), new Map())),
  fn('torch._utils._rebuild_tensor_v2', rebuildTensor),
  fn('torch._utils._rebuild_parameter', unwrapParameter),
  fn('torch._utils._rebuild_parameter_with_state', unwrapParameter),
  ...Object.entries(STORAGE_DTYPES).map(([name, dtype]): [string, () => PickleValue] => [`torch.${name}`, () => new TorchStorageType(name, dtype)]),
  ...TORCH_DTYPES.map((dtype): [string, () => PickleValue] => [`torch.${dtype}`, () => dtype]),
  fn('torch.Size', (args, ctx) => (expectArgs('torch.Size', args, 1, ctx), intList(args[0], 'torch.Size', ctx))),
  // MAR-style checkpoints save `args`: decoded to its attributes, never constructed.
  ['argparse.Namespace', () => new PickleGlobal('argparse.Namespace', undefined, namespace)],
  // Numbers saved from numpy (an epoch, a best metric): scalar(dtype, raw bytes).
  fn('numpy.dtype', numpyDType),
  fn('numpy.core.multiarray.scalar', numpyScalar),
  fn('numpy._core.multiarray.scalar', numpyScalar),
  // Protocol 2 has no bytes opcode: bytes are written as _codecs.encode(text, 'latin1').
  fn('_codecs.encode', latin1),
]);

function expectArgs(name: string, args: readonly PickleValue[], count: number, ctx: GlobalContext): void {
  if (args.length !== count) throw ctx.unsupported(`\`${name}\` with ${args.length} arguments`);
}

function intList(v: PickleValue, what: string, ctx: GlobalContext): number[] {
  if (!Array.isArray(v) || !v.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw ctx.corrupt(`${what} is ${describe(v)}, not a tuple of non-negative integers`);
  }
  return [...(v as number[])];
}

/** `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`. */
function rebuildTensor(args: readonly PickleValue[], ctx: GlobalContext): HostTensor {
  if (args.length < 6 || args.length > 7) throw ctx.corrupt(`_rebuild_tensor_v2 got ${args.length} arguments, not 6 or 7`);
  const [storage, offset, size, stride] = args;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw ctx.corrupt(`a tensor has storage offset ${describe(offset)}`);
  const sizes = intList(size, 'a tensor size', ctx);
  const strides = intList(stride, 'a tensor stride', ctx);
  if (sizes.length !== strides.length) throw ctx.corrupt(`a tensor has size [${sizes}] but stride [${strides}]`);
  if (ctx.rebuildTensor === undefined) throw ctx.unsupported('tensors outside a torch checkpoint');
  return ctx.rebuildTensor(storage, offset, sizes, strides);
}

/** `(data, requires_grad, backward_hooks[, state])`: for inference a Parameter is its data. */
function unwrapParameter(args: readonly PickleValue[], ctx: GlobalContext): PickleValue {
  const data = args[0];
  const isTensor = typeof data === 'object' && data !== null && 'data' in data && 'shape' in data && 'dtype' in data;
  if (args.length < 3 || args.length > 4 || !isTensor) throw ctx.corrupt('a Parameter does not wrap a tensor');
  return data;
}

function namespace(args: readonly PickleValue[], ctx: GlobalContext): PickleObject {
  expectArgs('argparse.Namespace', args, 0, ctx);
  const obj: PickleObject = {};
  ctx.onBuild(obj, (state) => {
    if (!(state instanceof Map)) throw ctx.corrupt('an argparse.Namespace state is not a dict');
    for (const [key, value] of state) {
      if (typeof key !== 'string') throw ctx.corrupt('an argparse.Namespace attribute name is not a string');
      // defineProperty: a key named `__proto__` must stay data, not become a prototype.
      Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
    }
  });
  return obj;
}

class NumpyDType extends PickleOpaque {
  littleEndian = true;
  constructor(readonly code: string) {
    super(`numpy.dtype(${code})`);
  }
}

/** `numpy.dtype(code, align, copy)`, then BUILD with `(version, byteorder, ...)`. */
function numpyDType(args: readonly PickleValue[], ctx: GlobalContext): NumpyDType {
  const code = args[0];
  if (typeof code !== 'string' || !/^[fiub][1248]$/.test(code)) throw ctx.unsupported(`numpy dtype ${describe(code)}`);
  const dtype = new NumpyDType(code);
  ctx.onBuild(dtype, (state) => {
    if (!Array.isArray(state) || typeof state[1] !== 'string') throw ctx.corrupt('a numpy dtype state is malformed');
    dtype.littleEndian = state[1] !== '>'; // '<', '|' (one byte) and '=' (native) read as little-endian
  });
  return dtype;
}

function numpyScalar(args: readonly PickleValue[], ctx: GlobalContext): number | bigint | boolean {
  const [dtype, raw] = args;
  if (!(dtype instanceof NumpyDType) || !(raw instanceof Uint8Array)) throw ctx.corrupt('a numpy scalar is not (dtype, bytes)');
  const size = Number(dtype.code[1]);
  if (raw.length !== size) throw ctx.corrupt(`a numpy ${dtype.code} scalar has ${raw.length} bytes`);
  const view = new DataView(raw.buffer, raw.byteOffset, size);
  const little = dtype.littleEndian;
  switch (dtype.code) {
    case 'f8': return view.getFloat64(0, little);
    case 'f4': return view.getFloat32(0, little);
    case 'f2': return toFloat32({ dtype: 'float16', shape: [], data: Uint16Array.of(view.getUint16(0, little)) })[0];
    case 'i8': return narrow(view.getBigInt64(0, little));
    case 'u8': return narrow(view.getBigUint64(0, little));
    case 'i4': return view.getInt32(0, little);
    case 'u4': return view.getUint32(0, little);
    case 'i2': return view.getInt16(0, little);
    case 'u2': return view.getUint16(0, little);
    case 'i1': return view.getInt8(0);
    case 'u1': return view.getUint8(0);
    case 'b1': return view.getUint8(0) !== 0;
    default: throw ctx.unsupported(`numpy dtype ${dtype.code}`);
  }
}

function latin1(args: readonly PickleValue[], ctx: GlobalContext): Uint8Array {
  const [text, encoding] = args;
  if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) throw ctx.unsupported(`_codecs.encode with encoding ${describe(encoding)}`);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) throw ctx.corrupt('latin1-encoded bytes contain a character above U+00FF');
    out[i] = c;
  }
  return out;
}

/** A number when it fits exactly, else the bigint. */
export function narrow(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** A short description of a value for error messages. */
export function describe(v: PickleValue | undefined): string {
  if (v instanceof PickleOpaque) return `\`${v.description}\``;
  if (v instanceof Map) return 'a dict';
  if (Array.isArray(v)) return 'a tuple/list';
  if (v instanceof Uint8Array) return 'bytes';
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}
