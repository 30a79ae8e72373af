/**
 * A restricted unpickler for the pickles `torch.save` writes (protocol 2, the torch
 * default, up to 5), following CPython's `Lib/pickle.py` opcode semantics and
 * `Lib/pickletools.py` opcode docs. It never executes anything: a GLOBAL resolves only
 * against the allow-list in `pickle-globals.ts`, whose entries are data decoders written
 * there, and any other name is refused before it could ever be used
 * (PICKLE_FORBIDDEN_GLOBAL naming `module.name` and the file).
 */
import { TesseraError } from '../errors';
import type { HostTensor } from '../tensor/host';
import { ALLOWED_GLOBALS, PickleGlobal, describe, narrow, type GlobalContext, type PickleDict, type PickleValue } from './pickle-globals';

export { PickleOpaque, TorchStorageType, type PickleDict, type PickleObject, type PickleValue } from './pickle-globals';

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

const MAX_PROTOCOL = 5;
const MAX_LONG_BYTES = 64;
const utf8 = new TextDecoder('utf-8', { fatal: true });

class Machine implements GlobalContext {
  private pos = 0;
  private stack: PickleValue[] = [];
  private marks: number[] = [];
  private memo = new Map<number, PickleValue>();
  /** What BUILD does for objects whose class allows it (keyed by the object itself). */
  private builders = new WeakMap<object, (state: PickleValue) => void>();

  readonly rebuildTensor: GlobalContext['rebuildTensor'];

  constructor(private readonly bytes: Uint8Array, readonly options: UnpickleOptions) {
    this.rebuildTensor = options.rebuildTensor;
  }

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
    return narrow(v);
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
    const callee = this.pop();
    const decode = callee instanceof PickleGlobal ? callee.call : undefined;
    if (decode === undefined) throw this.unsupported(`calling ${describe(callee)}`);
    this.push(decode(this.tuple(args, callee), this));
  }
  newObject(kwargs: PickleValue | undefined): void {
    const args = this.pop();
    const cls = this.pop();
    if (kwargs !== undefined && !(kwargs instanceof Map && kwargs.size === 0)) throw this.unsupported('NEWOBJ_EX with keyword arguments');
    const decode = cls instanceof PickleGlobal ? cls.construct : undefined;
    if (decode === undefined) throw this.unsupported(`instantiating ${describe(cls)}`);
    this.push(decode(this.tuple(args, cls), this));
  }
  private tuple(args: PickleValue, callee: PickleValue): PickleValue[] {
    if (!Array.isArray(args)) throw this.corrupt(`arguments to ${describe(callee)} are not a tuple`);
    return args;
  }
  onBuild(obj: object, build: (state: PickleValue) => void): void {
    this.builders.set(obj, build);
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
    // Decoding is quadratic in the width; no state_dict holds integers this wide.
    if (n > MAX_LONG_BYTES) throw m.unsupported(`a ${n}-byte integer`);
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
