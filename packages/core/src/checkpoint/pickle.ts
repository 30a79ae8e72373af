/**
 * A restricted unpickler for the pickles `torch.save` writes (protocol 2, the torch
 * default, up to 5), following CPython's `Lib/pickle.py` opcode semantics and
 * `Lib/pickletools.py` opcode docs. It never executes anything: a GLOBAL resolves only
 * against ALLOWED_GLOBALS below, whose entries are plain data decoders written here, and
 * any other name is refused before it could ever be called (PICKLE_FORBIDDEN_GLOBAL).
 * The list covers what a state_dict checkpoint needs, and is kept to that on purpose:
 * every entry is something a malicious file could reach.
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

export interface UnpickleOptions {
  /** Names the file in errors. */
  file: string;
  /** Resolves a BINPERSID id (torch: `('storage', type, key, location, numel)`). */
  persistentLoad?: (pid: PickleValue) => PickleValue;
  /** What `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` returns. */
  rebuildTensor?: (storage: PickleValue, offset: number, size: number[], stride: number[]) => HostTensor;
}

/** Decodes one pickle. Throws CHECKPOINT_CORRUPT, CHECKPOINT_UNSUPPORTED or PICKLE_FORBIDDEN_GLOBAL. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): PickleValue {
  return new Machine(bytes, options).run();
}

/** How an allowed global may be used: called (REDUCE) or instantiated (NEWOBJ); plain values have neither. */
interface Callable {
  call?: (args: readonly PickleValue[], m: Machine) => PickleValue;
  construct?: (args: readonly PickleValue[], m: Machine) => PickleValue;
}

class PickleGlobal extends PickleOpaque {
  constructor(readonly name: string, readonly behaviour: Callable) {
    super(name);
  }
}

const STORAGE_DTYPES: Readonly<Record<string, HostDType>> = {
  FloatStorage: 'float32', DoubleStorage: 'float64', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8', ByteStorage: 'uint8', BoolStorage: 'bool',
};
const TORCH_DTYPES: readonly HostDType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];

/** The allow-list, by `module.name`. Each entry builds data; none runs anything from the file. */
const ALLOWED_GLOBALS: ReadonlyMap<string, () => PickleValue> = new Map<string, () => PickleValue>([
  // A state_dict is an OrderedDict filled by SETITEMS after `OrderedDict()`.
  ['collections.OrderedDict', () => callable('collections.OrderedDict', { call: (args, m) => (m.expectArgs('collections.OrderedDict', args, 0), new Map()) })],
  ['torch._utils._rebuild_tensor_v2', () => callable('torch._utils._rebuild_tensor_v2', { call: (args, m) => m.rebuildTensor(args) })],
  ['torch._utils._rebuild_parameter', () => callable('torch._utils._rebuild_parameter', { call: (args, m) => m.unwrapParameter(args) })],
  ['torch._utils._rebuild_parameter_with_state', () => callable('torch._utils._rebuild_parameter_with_state', { call: (args, m) => m.unwrapParameter(args) })],
  ...Object.entries(STORAGE_DTYPES).map(([name, dtype]): [string, () => PickleValue] => [`torch.${name}`, () => new TorchStorageType(name, dtype)]),
  ...TORCH_DTYPES.map((dtype): [string, () => PickleValue] => [`torch.${dtype}`, () => dtype]),
  ['torch.Size', () => callable('torch.Size', { call: (args, m) => (m.expectArgs('torch.Size', args, 1), m.intList(args[0], 'torch.Size')) })],
  // MAR-style checkpoints save `args`: decoded to its attributes, never constructed.
  ['argparse.Namespace', () => callable('argparse.Namespace', { construct: (args, m) => m.namespace(args) })],
  // Numbers saved from numpy (an epoch, a best metric): scalar(dtype, raw bytes).
  ['numpy.dtype', () => callable('numpy.dtype', { call: (args, m) => m.numpyDType(args) })],
  ['numpy.core.multiarray.scalar', () => callable('numpy.core.multiarray.scalar', { call: (args, m) => m.numpyScalar(args) })],
  ['numpy._core.multiarray.scalar', () => callable('numpy._core.multiarray.scalar', { call: (args, m) => m.numpyScalar(args) })],
  // Protocol 2 has no bytes opcode: bytes are written as _codecs.encode(text, 'latin1').
  ['_codecs.encode', () => callable('_codecs.encode', { call: (args, m) => m.latin1(args) })],
]);

function callable(name: string, behaviour: Callable): PickleGlobal {
  return new PickleGlobal(name, behaviour);
}

class NumpyDType extends PickleOpaque {
  littleEndian = true;
  constructor(readonly code: string) {
    super(`numpy.dtype(${code})`);
  }
}

const MAX_PROTOCOL = 5;
const utf8 = new TextDecoder('utf-8', { fatal: true });

class Machine {
  private pos = 0;
  private stack: PickleValue[] = [];
  private marks: number[] = [];
  private memo = new Map<number, PickleValue>();
  /** What BUILD does for objects whose class allows it (keyed by the object itself). */
  private builders = new WeakMap<object, (state: PickleValue) => void>();

  constructor(private readonly bytes: Uint8Array, readonly options: UnpickleOptions) {}

  run(): PickleValue {
    for (;;) {
      const at = this.pos;
      const op = this.u8();
      if (op === 0x2e /* STOP */) {
        if (this.stack.length !== 1 || this.marks.length !== 0) throw this.corrupt(`STOP at byte ${at} leaves ${this.stack.length} values on the stack`);
        return this.stack[0];
      }
      const handler = OPCODES[op];
      if (handler === undefined) {
        throw new TesseraError('CHECKPOINT_UNSUPPORTED', `\`${this.options.file}\`: the pickle uses opcode 0x${op.toString(16)} at byte ${at}, which a state_dict does not need`, {
          data: { file: this.options.file, opcode: op, offset: at },
        });
      }
      handler(this);
    }
  }

  // ---- reading ----
  u8(): number {
    this.need(1);
    return this.bytes[this.pos++];
  }
  take(length: number | bigint): Uint8Array {
    const n = Number(length);
    this.need(n);
    return this.bytes.subarray(this.pos, (this.pos += n));
  }
  uint(bytes: 1 | 2 | 4 | 8): number {
    const raw = this.take(bytes);
    let v = 0;
    for (let i = bytes - 1; i >= 0; i--) v = v * 256 + raw[i];
    if (!Number.isSafeInteger(v)) throw this.corrupt(`a length of ${v} bytes is out of range`);
    return v;
  }
  int32(): number {
    return this.uint(4) | 0;
  }
  /** Two's-complement little-endian integer of any width (LONG1/LONG4). */
  long(length: number): number | bigint {
    const raw = this.take(length);
    let v = 0n;
    for (let i = raw.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i]);
    if (raw.length > 0 && raw[raw.length - 1] & 0x80) v -= 1n << BigInt(8 * raw.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  float64(): number {
    const raw = this.take(8);
    return new DataView(raw.buffer, raw.byteOffset, 8).getFloat64(0, false);
  }
  text(length: number): string {
    try {
      return utf8.decode(this.take(length));
    } catch (e) {
      if (e instanceof TesseraError) throw e;
      throw this.corrupt(`a string at byte ${this.pos - length} is not valid UTF-8`, e);
    }
  }
  line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw this.corrupt('the pickle ends inside a GLOBAL name');
    const value = this.text(end - this.pos);
    this.pos++;
    return value;
  }
  private need(n: number): void {
    if (n < 0 || this.pos + n > this.bytes.length) throw this.corrupt(`the pickle ends at byte ${this.bytes.length} while reading ${n} bytes at ${this.pos}`);
  }

  // ---- stack ----
  push(v: PickleValue): void {
    this.stack.push(v);
  }
  pop(): PickleValue {
    if (this.stack.length === 0 || this.stack.length === this.marks[this.marks.length - 1]) throw this.corrupt(`stack underflow at byte ${this.pos - 1}`);
    return this.stack.pop() as PickleValue;
  }
  top(): PickleValue {
    if (this.stack.length === 0) throw this.corrupt(`stack underflow at byte ${this.pos - 1}`);
    return this.stack[this.stack.length - 1];
  }
  mark(): void {
    this.marks.push(this.stack.length);
  }
  popMark(): PickleValue[] {
    const start = this.marks.pop();
    if (start === undefined) throw this.corrupt(`no MARK before byte ${this.pos - 1}`);
    return this.stack.splice(start);
  }
  memoSize(): number {
    return this.memo.size;
  }
  put(index: number): void {
    this.memo.set(index, this.top());
  }
  get(index: number): void {
    if (!this.memo.has(index)) throw this.corrupt(`memo entry ${index} is read before it is written`);
    this.push(this.memo.get(index) as PickleValue);
  }
  list(): PickleValue[] {
    const v = this.top();
    if (!Array.isArray(v) || Object.isFrozen(v)) throw this.corrupt(`APPEND at byte ${this.pos - 1} targets something that is not a list`);
    return v;
  }
  dict(): PickleDict {
    const v = this.top();
    if (!(v instanceof Map)) throw this.corrupt(`SETITEM at byte ${this.pos - 1} targets something that is not a dict`);
    return v;
  }
  setItems(dict: PickleDict, items: PickleValue[]): void {
    if (items.length % 2 !== 0) throw this.corrupt(`SETITEMS at byte ${this.pos - 1} has an odd number of items`);
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  }

  // ---- globals and calls ----
  resolve(module: string, name: string): void {
    const qualified = `${module}.${name}`;
    const make = ALLOWED_GLOBALS.get(qualified);
    if (make === undefined) {
      throw new TesseraError('PICKLE_FORBIDDEN_GLOBAL',
        `\`${this.options.file}\`: the pickle references \`${qualified}\`, which is not on the state_dict allow-list, so it was not loaded (Tessera never runs code from a checkpoint). If you trust the file, load it in Python and save only its tensors with safetensors.`,
        { data: { file: this.options.file, global: qualified } });
    }
    this.push(make());
  }
  reduce(): void {
    const args = this.pop();
    const fn = this.pop();
    const f = this.callableOf(fn, 'call', args);
    this.push(f(args as PickleValue[], this));
  }
  newObject(kwargs: PickleValue | undefined): void {
    const args = this.pop();
    const cls = this.pop();
    if (kwargs !== undefined && !(kwargs instanceof Map && kwargs.size === 0)) throw this.unsupported('NEWOBJ_EX with keyword arguments');
    const f = this.callableOf(cls, 'construct', args);
    this.push(f(args as PickleValue[], this));
  }
  private callableOf(fn: PickleValue, how: keyof Callable, args: PickleValue) {
    const f = fn instanceof PickleGlobal ? fn.behaviour[how] : undefined;
    if (f === undefined) throw this.unsupported(`${how === 'call' ? 'calling' : 'instantiating'} ${describe(fn)}`);
    if (!Array.isArray(args)) throw this.corrupt(`arguments to ${describe(fn)} are not a tuple`);
    return f;
  }
  build(): void {
    const state = this.pop();
    const obj = this.top();
    const builder = typeof obj === 'object' && obj !== null ? this.builders.get(obj) : undefined;
    if (builder !== undefined) builder(state);
    // An OrderedDict's state is its `__dict__` (a state_dict's `_metadata` versions): not weights.
    else if (!(obj instanceof Map && (state instanceof Map || state === null))) throw this.unsupported(`setting the state of ${describe(obj)}`);
  }
  persistentLoad(): void {
    const pid = this.pop();
    if (this.options.persistentLoad === undefined) throw this.unsupported('persistent ids outside a torch checkpoint');
    this.push(this.options.persistentLoad(pid));
  }

  // ---- the allow-list's decoders ----
  expectArgs(name: string, args: readonly PickleValue[], count: number): void {
    if (args.length !== count) throw this.unsupported(`\`${name}\` with ${args.length} arguments`);
  }
  intList(v: PickleValue, what: string): number[] {
    if (!Array.isArray(v) || !v.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
      throw this.corrupt(`${what} is ${describe(v)}, not a tuple of non-negative integers`);
    }
    return [...(v as number[])];
  }
  rebuildTensor(args: readonly PickleValue[]): HostTensor {
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    if (args.length < 6 || args.length > 7) throw this.corrupt(`_rebuild_tensor_v2 got ${args.length} arguments, not 6 or 7`);
    const [storage, offset, size, stride] = args;
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw this.corrupt(`a tensor has storage offset ${describe(offset)}`);
    const sizes = this.intList(size, 'a tensor size');
    const strides = this.intList(stride, 'a tensor stride');
    if (sizes.length !== strides.length) throw this.corrupt(`a tensor has size [${sizes}] but stride [${strides}]`);
    if (this.options.rebuildTensor === undefined) throw this.unsupported('tensors outside a torch checkpoint');
    return this.options.rebuildTensor(storage, offset, sizes, strides);
  }
  unwrapParameter(args: readonly PickleValue[]): PickleValue {
    // (data, requires_grad, backward_hooks[, state]): a Parameter is its data for inference.
    if (args.length < 3 || args.length > 4 || !isTensorLike(args[0])) throw this.corrupt('a Parameter does not wrap a tensor');
    return args[0];
  }
  namespace(args: readonly PickleValue[]): PickleObject {
    this.expectArgs('argparse.Namespace', args, 0);
    const obj: PickleObject = {};
    this.builders.set(obj, (state) => {
      if (!(state instanceof Map)) throw this.corrupt('an argparse.Namespace state is not a dict');
      for (const [key, value] of state) {
        if (typeof key !== 'string') throw this.corrupt('an argparse.Namespace attribute name is not a string');
        // defineProperty: a key named `__proto__` must stay data, not become a prototype.
        Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
      }
    });
    return obj;
  }
  numpyDType(args: readonly PickleValue[]): NumpyDType {
    const code = args[0];
    if (typeof code !== 'string' || !/^[fiub][1248]$/.test(code)) throw this.unsupported(`numpy dtype ${describe(code)}`);
    const dtype = new NumpyDType(code);
    this.builders.set(dtype, (state) => {
      // state = (version, byteorder, ...); '>' is big-endian, '<', '|' and '=' are not here.
      if (!Array.isArray(state) || typeof state[1] !== 'string') throw this.corrupt('a numpy dtype state is malformed');
      dtype.littleEndian = state[1] !== '>';
    });
    return dtype;
  }
  numpyScalar(args: readonly PickleValue[]): number | bigint | boolean {
    const [dtype, raw] = args;
    if (!(dtype instanceof NumpyDType) || !(raw instanceof Uint8Array)) throw this.corrupt('a numpy scalar is not (dtype, bytes)');
    const size = Number(dtype.code[1]);
    if (raw.length !== size) throw this.corrupt(`a numpy ${dtype.code} scalar has ${raw.length} bytes`);
    return decodeScalar(dtype.code, new DataView(raw.buffer, raw.byteOffset, size), dtype.littleEndian);
  }
  latin1(args: readonly PickleValue[]): Uint8Array {
    const [text, encoding] = args;
    if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) throw this.unsupported(`_codecs.encode with encoding ${describe(encoding)}`);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c > 0xff) throw this.corrupt('latin1-encoded bytes contain a character above U+00FF');
      out[i] = c;
    }
    return out;
  }

  // ---- errors ----
  corrupt(what: string, cause?: unknown): TesseraError {
    const file = this.options.file;
    return new TesseraError('CHECKPOINT_CORRUPT', `\`${file}\`: ${what}; the pickle is truncated or corrupt`, { data: { file, offset: this.pos }, cause });
  }
  unsupported(what: string): TesseraError {
    const file = this.options.file;
    return new TesseraError('CHECKPOINT_UNSUPPORTED', `\`${file}\`: the pickle needs ${what}, which a state_dict does not; save the tensors as a plain state_dict or safetensors`, {
      data: { file, offset: this.pos },
    });
  }
}

function decodeScalar(code: string, view: DataView, little: boolean): number | bigint | boolean {
  switch (code) {
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
    default: return view.getUint8(0) !== 0; // 'b1'
  }
}

function narrow(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function isTensorLike(v: PickleValue): boolean {
  return typeof v === 'object' && v !== null && 'data' in v && 'shape' in v && 'dtype' in v;
}

function describe(v: PickleValue | undefined): string {
  if (v instanceof PickleOpaque) return `\`${v.description}\``;
  if (v instanceof Map) return 'a dict';
  if (Array.isArray(v)) return 'a tuple/list';
  if (v instanceof Uint8Array) return 'bytes';
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

const freeze = (items: PickleValue[]): PickleValue[] => Object.freeze(items) as PickleValue[];

/** Opcode byte -> action; anything missing is CHECKPOINT_UNSUPPORTED. */
const OPCODES: Readonly<Record<number, (m: Machine) => void>> = {
  0x80: (m) => { // PROTO
    const v = m.u8();
    if (v > MAX_PROTOCOL) throw m.unsupported(`pickle protocol ${v}`);
  },
  0x95: (m) => void m.uint(8), // FRAME: only a read-ahead hint
  0x28: (m) => m.mark(), // MARK
  0x30: (m) => void m.pop(), // POP
  0x31: (m) => void m.popMark(), // POP_MARK
  0x32: (m) => m.push(m.top()), // DUP
  0x4e: (m) => m.push(null), // NONE
  0x88: (m) => m.push(true), // NEWTRUE
  0x89: (m) => m.push(false), // NEWFALSE
  0x4a: (m) => m.push(m.int32()), // BININT
  0x4b: (m) => m.push(m.uint(1)), // BININT1
  0x4d: (m) => m.push(m.uint(2)), // BININT2
  0x8a: (m) => m.push(m.long(m.uint(1))), // LONG1
  0x8b: (m) => { // LONG4
    const n = m.int32();
    if (n < 0) throw m.corrupt('LONG4 has a negative length');
    m.push(m.long(n));
  },
  0x47: (m) => m.push(m.float64()), // BINFLOAT
  0x58: (m) => m.push(m.text(m.uint(4))), // BINUNICODE
  0x8c: (m) => m.push(m.text(m.uint(1))), // SHORT_BINUNICODE
  0x8d: (m) => m.push(m.text(m.uint(8))), // BINUNICODE8
  0x54: (m) => { // BINSTRING (Python 2 str; torch.load decodes it as UTF-8)
    const n = m.int32();
    if (n < 0) throw m.corrupt('BINSTRING has a negative length');
    m.push(m.text(n));
  },
  0x55: (m) => m.push(m.text(m.uint(1))), // SHORT_BINSTRING
  0x42: (m) => m.push(m.take(m.uint(4)).slice()), // BINBYTES
  0x43: (m) => m.push(m.take(m.uint(1)).slice()), // SHORT_BINBYTES
  0x8e: (m) => m.push(m.take(m.uint(8)).slice()), // BINBYTES8
  0x96: (m) => m.push(m.take(m.uint(8)).slice()), // BYTEARRAY8
  0x7d: (m) => m.push(new Map()), // EMPTY_DICT
  0x5d: (m) => m.push([]), // EMPTY_LIST
  0x29: (m) => m.push(freeze([])), // EMPTY_TUPLE
  0x74: (m) => m.push(freeze(m.popMark())), // TUPLE
  0x85: (m) => m.push(freeze([m.pop()])), // TUPLE1
  0x86: (m) => { const b = m.pop(); m.push(freeze([m.pop(), b])); }, // TUPLE2
  0x87: (m) => { const c = m.pop(); const b = m.pop(); m.push(freeze([m.pop(), b, c])); }, // TUPLE3
  0x6c: (m) => m.push(m.popMark()), // LIST
  0x61: (m) => { const v = m.pop(); m.list().push(v); }, // APPEND
  0x65: (m) => { const items = m.popMark(); m.list().push(...items); }, // APPENDS
  0x64: (m) => { const items = m.popMark(); const d: PickleDict = new Map(); m.setItems(d, items); m.push(d); }, // DICT
  0x73: (m) => { const v = m.pop(); const k = m.pop(); m.dict().set(k, v); }, // SETITEM
  0x75: (m) => { const items = m.popMark(); m.setItems(m.dict(), items); }, // SETITEMS
  0x71: (m) => m.put(m.uint(1)), // BINPUT
  0x72: (m) => m.put(m.uint(4)), // LONG_BINPUT
  0x94: (m) => m.put(m.memoSize()), // MEMOIZE
  0x68: (m) => m.get(m.uint(1)), // BINGET
  0x6a: (m) => m.get(m.uint(4)), // LONG_BINGET
  0x63: (m) => { const module = m.line(); m.resolve(module, m.line()); }, // GLOBAL
  0x93: (m) => { // STACK_GLOBAL
    const name = m.pop();
    const module = m.pop();
    if (typeof module !== 'string' || typeof name !== 'string') throw m.corrupt('STACK_GLOBAL operands are not strings');
    m.resolve(module, name);
  },
  0x69: (m) => { // INST: check the name like GLOBAL, but instantiating classes this way is never needed
    const module = m.line();
    m.resolve(module, m.line());
    throw m.unsupported('the INST opcode');
  },
  0x52: (m) => m.reduce(), // REDUCE
  0x81: (m) => m.newObject(undefined), // NEWOBJ
  0x92: (m) => { const kwargs = m.pop(); m.newObject(kwargs); }, // NEWOBJ_EX
  0x62: (m) => m.build(), // BUILD
  0x51: (m) => m.persistentLoad(), // BINPERSID
};
