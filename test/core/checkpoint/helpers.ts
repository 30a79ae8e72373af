/**
 * Shared by the checkpoint tests: error assertions and byte builders for zips, pickles and torch checkpoints (written by
 * hand so the tests need no Python and can say exactly what each byte does).
 */
import * as zlib from 'node:zlib';
import { expect } from 'chai';

export { FIXTURES } from '../../paths';

export interface CaughtError {
  name: string;
  code: string;
  message: string;
  data: Record<string, unknown>;
}

/** Runs `fn`, expects a TesseraError with `code`, and returns it for checks on `data`. */
export function expectError(fn: () => unknown, code: string): CaughtError {
  try {
    fn();
  } catch (e) {
    const err = e as CaughtError;
    expect(err.name, String(e)).to.equal('TesseraError');
    expect(err.code, err.message).to.equal(code);
    return err;
  }
  expect.fail(`expected a TesseraError ${code}, but nothing was thrown`);
}

// ---------------------------------------------------------------- zip

export interface ZipInput {
  name: string;
  data: Uint8Array;
  /** 0 = stored (default), 8 = deflate, anything else is written as is. */
  method?: number;
  /** Overrides the CRC-32 written for this entry. */
  crc?: number;
}

/** A zip archive; `zip64` writes ZIP64 end records and saturated fields with ZIP64 extras. */
export function makeZip(entries: ZipInput[], options: { zip64?: boolean; comment?: string } = {}): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const method = e.method ?? 0;
    const payload = method === 8 ? zlib.deflateRawSync(e.data) : Buffer.from(e.data);
    const crc = e.crc ?? zlib.crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(payload.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    parts.push(local, name, payload);

    const extra = options.zip64 ? Buffer.alloc(28) : Buffer.alloc(0);
    if (options.zip64) {
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(e.data.length), 4);
      extra.writeBigUInt64LE(BigInt(payload.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE(45, 4);
    header.writeUInt16LE(45, 6);
    header.writeUInt16LE(method, 10);
    header.writeUInt32LE(crc >>> 0, 16);
    header.writeUInt32LE(options.zip64 ? 0xffffffff : payload.length, 20);
    header.writeUInt32LE(options.zip64 ? 0xffffffff : e.data.length, 24);
    header.writeUInt16LE(name.length, 28);
    header.writeUInt16LE(extra.length, 30);
    header.writeUInt32LE(options.zip64 ? 0xffffffff : offset, 42);
    central.push(header, name, extra);
    offset += 30 + name.length + payload.length;
  }
  const cd = Buffer.concat(central);
  const tail: Buffer[] = [];
  if (options.zip64) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4);
    record.writeBigUInt64LE(BigInt(entries.length), 24);
    record.writeBigUInt64LE(BigInt(entries.length), 32);
    record.writeBigUInt64LE(BigInt(cd.length), 40);
    record.writeBigUInt64LE(BigInt(offset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(offset + cd.length), 8);
    locator.writeUInt32LE(1, 16);
    tail.push(record, locator);
  }
  const comment = Buffer.from(options.comment ?? '');
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(options.zip64 ? 0xffff : entries.length, 8);
  eocd.writeUInt16LE(options.zip64 ? 0xffff : entries.length, 10);
  eocd.writeUInt32LE(options.zip64 ? 0xffffffff : cd.length, 12);
  eocd.writeUInt32LE(options.zip64 ? 0xffffffff : offset, 16);
  eocd.writeUInt16LE(comment.length, 20);
  return new Uint8Array(Buffer.concat([...parts, cd, ...tail, eocd, comment]));
}

// ---------------------------------------------------------------- pickle

/** Writes pickle opcodes by name; each method appends one opcode and its operands. */
export class PickleWriter {
  private readonly out: number[] = [];

  raw(...bytes: number[]): this {
    this.out.push(...bytes);
    return this;
  }
  proto(version = 2): this {
    return this.raw(0x80, version);
  }
  op(name: keyof typeof OP): this {
    return this.raw(OP[name]);
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.raw(0x4b, n); // BININT1
    if (n >= 0 && n < 65536) return this.raw(0x4d, n & 0xff, n >> 8); // BININT2
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    return this.raw(0x4a, ...b); // BININT
  }
  long1(n: bigint): this {
    // Shortest two's-complement little-endian form, as CPython writes it.
    const bytes: number[] = [];
    for (let v = n; ; ) {
      const byte = Number(v & 0xffn);
      bytes.push(byte);
      v >>= 8n;
      if ((v === 0n && byte < 0x80) || (v === -1n && byte >= 0x80)) break;
    }
    return this.raw(0x8a, bytes.length, ...bytes);
  }
  float(x: number): this {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(x);
    return this.raw(0x47, ...b);
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    const n = Buffer.alloc(4);
    n.writeUInt32LE(b.length);
    return this.raw(0x58, ...n, ...b); // BINUNICODE
  }
  shortStr(s: string): this {
    const b = Buffer.from(s, 'utf8');
    return this.raw(0x8c, b.length, ...b); // SHORT_BINUNICODE
  }
  bytes(data: Uint8Array): this {
    return this.raw(0x43, data.length, ...data); // SHORT_BINBYTES
  }
  global(module: string, name: string): this {
    return this.raw(0x63, ...Buffer.from(`${module}\n${name}\n`)); // GLOBAL
  }
  put(i: number): this {
    return this.raw(0x71, i); // BINPUT
  }
  get(i: number): this {
    return this.raw(0x68, i); // BINGET
  }
  /** A `_rebuild_tensor_v2` call on storage `key` as torch.save writes it (protocol 2). */
  tensor(storageClass: string, key: string, numel: number, offset: number, size: number[], stride: number[]): this {
    this.global('torch._utils', '_rebuild_tensor_v2').op('MARK');
    this.op('MARK').str('storage').global('torch', storageClass).str(key).str('cpu').int(numel).op('TUPLE').op('BINPERSID');
    this.int(offset).op('MARK');
    for (const d of size) this.int(d);
    this.op('TUPLE').op('MARK');
    for (const s of stride) this.int(s);
    this.op('TUPLE').op('NEWFALSE').global('collections', 'OrderedDict').op('EMPTY_TUPLE').op('REDUCE');
    return this.op('TUPLE').op('REDUCE');
  }
  stop(): Uint8Array {
    return new Uint8Array([...this.out, 0x2e]);
  }
}

export const OP = {
  MARK: 0x28, STOP: 0x2e, POP: 0x30, NONE: 0x4e, NEWTRUE: 0x88, NEWFALSE: 0x89, REDUCE: 0x52, BUILD: 0x62,
  NEWOBJ: 0x81, EMPTY_DICT: 0x7d, EMPTY_LIST: 0x5d, EMPTY_TUPLE: 0x29, TUPLE: 0x74, TUPLE1: 0x85, TUPLE2: 0x86,
  TUPLE3: 0x87, LIST: 0x6c, APPEND: 0x61, APPENDS: 0x65, DICT: 0x64, SETITEM: 0x73, SETITEMS: 0x75, MEMOIZE: 0x94,
  STACK_GLOBAL: 0x93, BINPERSID: 0x51,
} as const;

/** A zip-format torch checkpoint: `<archive>/data.pkl`, `<archive>/data/<key>`, version, byteorder. */
export function torchZip(pickle: Uint8Array, storages: Record<string, Uint8Array>, archive = 'archive'): Uint8Array {
  return makeZip([
    { name: `${archive}/data.pkl`, data: pickle },
    { name: `${archive}/byteorder`, data: Buffer.from('little') },
    ...Object.entries(storages).map(([key, data]) => ({ name: `${archive}/data/${key}`, data })),
    { name: `${archive}/version`, data: Buffer.from('3\n') },
  ]);
}

/** Little-endian bytes of a typed array. */
export function le(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}
