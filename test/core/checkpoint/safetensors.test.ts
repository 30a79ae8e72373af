import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { readSafetensors, readSafetensorsFile, writeSafetensors, writeSafetensorsFile, type HostTensor } from '@tessera/core';
import { expectError } from './helpers';


const FILE = 'x.safetensors';

/** One tensor of every dtype, with awkward shapes (scalar, empty, odd byte counts). */
function everyDtype(): Map<string, HostTensor> {
  return new Map<string, HostTensor>([
    ['f64', { dtype: 'float64', shape: [2, 2], data: Float64Array.of(1.5, -2, Math.PI, 1e300) }],
    ['f32', { dtype: 'float32', shape: [3], data: Float32Array.of(0.1, -0, Infinity) }],
    ['f16', { dtype: 'float16', shape: [3], data: Uint16Array.of(0x3c00, 0xc000, 0x7c00) }],
    ['bf16', { dtype: 'bfloat16', shape: [1, 3], data: Uint16Array.of(0x3f80, 0x4049, 0xff80) }],
    ['i64', { dtype: 'int64', shape: [3], data: BigInt64Array.of(-1n, 2n ** 62n, 7n) }],
    ['i32', { dtype: 'int32', shape: [], data: Int32Array.of(-123456) }],
    ['i16', { dtype: 'int16', shape: [3], data: Int16Array.of(-32768, 0, 32767) }],
    ['i8', { dtype: 'int8', shape: [5], data: Int8Array.of(-128, -1, 0, 1, 127) }],
    ['u8', { dtype: 'uint8', shape: [0, 3], data: new Uint8Array(0) }],
    ['bool', { dtype: 'bool', shape: [2, 1], data: Uint8Array.of(1, 0) }],
  ]);
}

/** A safetensors file from a literal header object and a data section of `dataLength` bytes. */
function craft(header: unknown, dataLength: number): Uint8Array {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const out = Buffer.alloc(8 + json.length + dataLength);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  return new Uint8Array(out);
}

describe('checkpoint/safetensors', () => {
  describe('round trip', () => {
    it('writes and reads back every dtype with shape, values and metadata', () => {
      const tensors = everyDtype();
      const back = readSafetensors(writeSafetensors(tensors, { format: 'pt', note: 'ü' }), FILE);
      expect(back.metadata).to.deep.equal({ format: 'pt', note: 'ü' });
      expect([...back.tensors.keys()].sort()).to.deep.equal([...tensors.keys()].sort());
      for (const [name, t] of tensors) {
        const got = back.tensors.get(name)!;
        expect(got.dtype, name).to.equal(t.dtype);
        expect(got.shape, name).to.deep.equal(t.shape);
        expect(got.data.constructor, name).to.equal(t.data.constructor);
        expect([...got.data], name).to.deep.equal([...t.data]);
      }
    });

    it('accepts a plain object and writes no metadata key when none is given', () => {
      const bytes = writeSafetensors({ a: { dtype: 'float32', shape: [1], data: Float32Array.of(2) } });
      const headerLength = Number(Buffer.from(bytes).readBigUInt64LE(0));
      expect(JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString())).to.not.have.property('__metadata__');
      expect(readSafetensors(bytes, FILE).metadata).to.deep.equal({});
    });

    it('lays data out like the reference writer: 8-byte header padding, widest dtypes first', () => {
      const bytes = writeSafetensors(everyDtype());
      const headerLength = Number(Buffer.from(bytes).readBigUInt64LE(0));
      expect(headerLength % 8).to.equal(0);
      const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString());
      const byOffset = Object.keys(header).sort((a, b) => header[a].data_offsets[0] - header[b].data_offsets[0]);
      expect(byOffset.slice(0, 2)).to.deep.equal(['f64', 'i64']);
      for (const name of byOffset) {
        const size = { F64: 8, I64: 8, F32: 4, I32: 4, F16: 2, BF16: 2, I16: 2 }[header[name].dtype as string] ?? 1;
        expect(header[name].data_offsets[0] % size, name).to.equal(0);
      }
    });

    it('reads tensors that sit at unaligned addresses', () => {
      const bytes = writeSafetensors({ w: { dtype: 'float64', shape: [2], data: Float64Array.of(1, 2) } });
      const shifted = new Uint8Array(bytes.length + 3);
      shifted.set(bytes, 3);
      const w = readSafetensors(shifted.subarray(3), FILE).tensors.get('w')!;
      expect([...w.data]).to.deep.equal([1, 2]);
      expect(w.data.byteOffset % 8).to.equal(0);
    });
  });

  describe('corrupt and unsupported files', () => {
    const good = writeSafetensors({ 'a.b': { dtype: 'float32', shape: [10, 10], data: new Float32Array(100) } });

    it('rejects a file with bytes cut off the end, naming the file and tensor', () => {
      const err = expectError(() => readSafetensors(good.subarray(0, good.length - 4), FILE), 'CHECKPOINT_CORRUPT');
      expect(err.data).to.include({ file: FILE, tensor: 'a.b', dataLength: 396 });
      expect(err.data.dataOffsets).to.deep.equal([0, 400]);
      expect(err.message).to.contain(FILE);
    });

    it('rejects files cut inside the header or the length prefix', () => {
      expect(expectError(() => readSafetensors(good.subarray(0, 20), FILE), 'CHECKPOINT_CORRUPT').data.file).to.equal(FILE);
      expect(expectError(() => readSafetensors(good.subarray(0, 5), FILE), 'CHECKPOINT_CORRUPT').data.file).to.equal(FILE);
      expectError(() => readSafetensors(new Uint8Array(0), FILE), 'CHECKPOINT_CORRUPT');
    });

    it('rejects a header that is not JSON, or not an object', () => {
      const broken = good.slice();
      broken[9] = 0x7b; // `{{"...` is not JSON
      expect(expectError(() => readSafetensors(broken, FILE), 'CHECKPOINT_CORRUPT').data.file).to.equal(FILE);
      expectError(() => readSafetensors(craft('[1, 2]', 0), FILE), 'CHECKPOINT_CORRUPT');
      expectError(() => readSafetensors(craft('null', 0), FILE), 'CHECKPOINT_CORRUPT');
      expectError(() => readSafetensors(craft(Buffer.from([0xff, 0xfe]).toString('latin1'), 0), FILE), 'CHECKPOINT_CORRUPT');
    });

    it('rejects overlapping, gapped, mis-sized and trailing layouts', () => {
      const entry = (begin: number, end: number, shape = [2]) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
      const cases: [string, unknown, number][] = [
        ['overlap', { a: entry(0, 8), b: entry(4, 12) }, 12],
        ['hole', { a: entry(0, 8), b: entry(12, 20) }, 20],
        ['size', { a: entry(0, 12) }, 12],
        ['trailing', { a: entry(0, 8) }, 16],
        ['reversed', { a: entry(8, 0) }, 8],
        ['bad shape', { a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 8],
        ['missing offsets', { a: { dtype: 'F32', shape: [2] } }, 8],
        ['metadata not strings', { __metadata__: { epoch: 3 }, a: entry(0, 8) }, 8],
      ];
      for (const [what, header, length] of cases) {
        const err = expectError(() => readSafetensors(craft(header, length), FILE), 'CHECKPOINT_CORRUPT');
        expect(err.data.file, what).to.equal(FILE);
      }
    });

    it('rejects BOOL tensors holding bytes other than 0 and 1', () => {
      const bytes = craft({ m: { dtype: 'BOOL', shape: [2], data_offsets: [0, 2] } }, 2);
      bytes[bytes.length - 1] = 2;
      expect(expectError(() => readSafetensors(bytes, FILE), 'CHECKPOINT_CORRUPT').data.tensor).to.equal('m');
    });

    it('refuses dtypes it does not read as CHECKPOINT_UNSUPPORTED', () => {
      for (const dtype of ['F8_E4M3', 'U32', 'C64', 'WHAT']) {
        const err = expectError(() => readSafetensors(craft({ t: { dtype, shape: [1], data_offsets: [0, 1] } }, 1), FILE), 'CHECKPOINT_UNSUPPORTED');
        expect(err.data).to.include({ file: FILE, tensor: 't', dtype });
      }
    });
  });

  describe('writing invalid tensors', () => {
    it('refuses data whose typed array does not match the dtype', () => {
      const err = expectError(() => writeSafetensors({ t: { dtype: 'float32', shape: [1], data: Float64Array.of(1) } }), 'CHECKPOINT_UNSUPPORTED');
      expect(err.data).to.include({ tensor: 't', dtype: 'float32' });
    });

    it('refuses a shape that does not match the data length', () => {
      expect(expectError(() => writeSafetensors({ t: { dtype: 'int8', shape: [2, 2], data: new Int8Array(3) } }), 'SHAPE_MISMATCH').data.tensor).to.equal('t');
    });

    it('refuses a tensor named __metadata__ and non-string metadata', () => {
      expectError(() => writeSafetensors({ __metadata__: { dtype: 'int8', shape: [1], data: new Int8Array(1) } }), 'CHECKPOINT_UNSUPPORTED');
      expectError(() => writeSafetensors({}, { epoch: 3 as unknown as string }), 'CHECKPOINT_UNSUPPORTED');
    });
  });

  describe('files', () => {
    let dir: string;
    beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-st-'))));
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('writes atomically, leaves no temporary file, and reads back', () => {
      const file = path.join(dir, 'w.safetensors');
      writeSafetensorsFile(file, everyDtype(), { step: '7' });
      writeSafetensorsFile(file, everyDtype(), { step: '8' }); // replaces the old file
      expect(fs.readdirSync(dir)).to.deep.equal(['w.safetensors']);
      const back = readSafetensorsFile(file);
      expect(back.metadata).to.deep.equal({ step: '8' });
      expect([...back.tensors.get('i64')!.data]).to.deep.equal([-1n, 2n ** 62n, 7n]);
    });

    it('keeps the previous file when the new tensors are invalid', () => {
      const file = path.join(dir, 'w.safetensors');
      writeSafetensorsFile(file, { a: { dtype: 'int8', shape: [1], data: Int8Array.of(5) } });
      expectError(() => writeSafetensorsFile(file, { a: { dtype: 'int8', shape: [2], data: Int8Array.of(5) } }), 'SHAPE_MISMATCH');
      expect(fs.readdirSync(dir)).to.deep.equal(['w.safetensors']);
      expect([...readSafetensorsFile(file).tensors.get('a')!.data]).to.deep.equal([5]);
    });

    it('creates missing folders when writing, and reports a missing file as FILE_NOT_FOUND', () => {
      const missing = path.join(dir, 'nope', 'w.safetensors');
      expect(expectError(() => readSafetensorsFile(missing), 'FILE_NOT_FOUND').data.path).to.equal(missing);
      writeSafetensorsFile(missing, {});
      expect(readSafetensorsFile(missing).tensors.size).to.equal(0);
    });

    it('names the path in errors from a truncated file', () => {
      const file = path.join(dir, 'cut.safetensors');
      const bytes = writeSafetensors({ a: { dtype: 'float32', shape: [4], data: new Float32Array(4) } });
      fs.writeFileSync(file, bytes.subarray(0, bytes.length - 1));
      expect(expectError(() => readSafetensorsFile(file), 'CHECKPOINT_CORRUPT').data.file).to.equal(file);
    });
  });
});
