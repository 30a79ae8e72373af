import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { readTorchCheckpoint, readSafetensorsFile, selectStateDict, isHostTensor, type HostTensor } from '@tessera/core';
import { FIXTURES, PickleWriter, expectError, le, torchZip } from './helpers';

const FILE = 'model.pth';
const w = () => new PickleWriter().proto(2);
const values = (t: HostTensor) => [...t.data];

/** `{'model': OrderedDict(...tensors), 'args': Namespace(epoch=3)}` as a released MAR checkpoint looks. */
function wrapped(tensors: (p: PickleWriter) => void): Uint8Array {
  const p = w().op('EMPTY_DICT').op('MARK').str('model').global('collections', 'OrderedDict').op('EMPTY_TUPLE').op('REDUCE').op('MARK');
  tensors(p);
  p.op('SETITEMS').str('args').global('argparse', 'Namespace').op('EMPTY_TUPLE').op('NEWOBJ')
    .op('EMPTY_DICT').str('epoch').int(3).op('SETITEM').op('BUILD');
  return p.op('SETITEMS').stop();
}

describe('checkpoint/torch', () => {
  describe('tensors from storages', () => {
    const storage = le(Float32Array.of(0, 1, 2, 3, 4, 5));

    it('applies storage offset, size and stride, gathering non-contiguous views', () => {
      const pickle = wrapped((p) => {
        p.str('plain').tensor('FloatStorage', '0', 6, 0, [2, 3], [3, 1]);
        p.str('transposed').tensor('FloatStorage', '0', 6, 0, [3, 2], [1, 3]);
        p.str('offset').tensor('FloatStorage', '0', 6, 1, [2], [2]);
        p.str('scalar').tensor('FloatStorage', '0', 6, 5, [], []);
        p.str('broadcast').tensor('FloatStorage', '0', 6, 2, [2, 2], [0, 1]);
        p.str('empty').tensor('FloatStorage', '0', 6, 0, [0, 4], [4, 1]);
      });
      const zip = torchZip(pickle, { 0: storage });
      const sd = selectStateDict(readTorchCheckpoint(zip, FILE), 'model', FILE);
      zip.fill(0); // the tensors own their data, not views of the input
      expect(sd.get('plain')).to.deep.include({ dtype: 'float32', shape: [2, 3] });
      expect(values(sd.get('plain')!)).to.deep.equal([0, 1, 2, 3, 4, 5]);
      expect(values(sd.get('transposed')!)).to.deep.equal([0, 3, 1, 4, 2, 5]);
      expect(values(sd.get('offset')!)).to.deep.equal([1, 3]);
      expect(sd.get('scalar')).to.deep.include({ shape: [] });
      expect(values(sd.get('scalar')!)).to.deep.equal([5]);
      expect(values(sd.get('broadcast')!)).to.deep.equal([2, 3, 2, 3]);
      expect(sd.get('empty')!.data.length).to.equal(0);
      // Shared storage, separate tensors: changing one must not change another.
      (sd.get('plain')!.data as Float32Array)[1] = 99;
      expect(values(sd.get('transposed')!)[2]).to.equal(1);
    });

    it('takes the dtype from the storage type, and unwraps Parameters', () => {
      const pickle = wrapped((p) => {
        p.str('long').tensor('LongStorage', 'a', 2, 0, [2], [1]);
        p.str('half').tensor('BFloat16Storage', 'b', 2, 0, [2], [1]);
        p.str('mask').tensor('BoolStorage', 'c', 3, 0, [3], [1]);
        p.str('param').global('torch._utils', '_rebuild_parameter');
        p.tensor('DoubleStorage', 'd', 1, 0, [1], [1]).op('NEWTRUE').global('collections', 'OrderedDict').op('EMPTY_TUPLE').op('REDUCE').op('TUPLE3').op('REDUCE');
      });
      const tree = readTorchCheckpoint(torchZip(pickle, {
        a: le(BigInt64Array.of(-3n, 2n ** 40n)), b: le(Uint16Array.of(0x3f80, 0xc000)), c: Uint8Array.of(1, 0, 1), d: le(Float64Array.of(0.1)),
      }), FILE);
      const sd = selectStateDict(tree, 'model', FILE);
      expect(sd.get('long')!.data).to.deep.equal(BigInt64Array.of(-3n, 2n ** 40n));
      expect(sd.get('half')).to.deep.include({ dtype: 'bfloat16', data: Uint16Array.of(0x3f80, 0xc000) });
      expect(sd.get('mask')).to.deep.include({ dtype: 'bool', data: Uint8Array.of(1, 0, 1) });
      expect(sd.get('param')).to.deep.include({ dtype: 'float64', data: Float64Array.of(0.1) });
      expect((tree as Map<string, unknown>).get('args')).to.deep.equal({ epoch: 3 });
    });

    it('rejects views outside the storage, mis-sized and missing storages', () => {
      const one = (p: PickleWriter) => p.str('w').tensor('FloatStorage', '0', 6, 4, [2, 2], [2, 1]);
      expect(expectError(() => readTorchCheckpoint(torchZip(wrapped(one), { 0: storage }), FILE), 'CHECKPOINT_CORRUPT').data).to.include({ file: FILE, storage: '0' });
      const fits = (p: PickleWriter) => p.str('w').tensor('FloatStorage', '0', 6, 0, [6], [1]);
      expectError(() => readTorchCheckpoint(torchZip(wrapped(fits), { 0: storage.subarray(4) }), FILE), 'CHECKPOINT_CORRUPT');
      expectError(() => readTorchCheckpoint(torchZip(wrapped(fits), {}), FILE), 'CHECKPOINT_CORRUPT');
      // A flipped bit inside the storage fails the entry's CRC.
      const flipped = Buffer.from(torchZip(wrapped(fits), { 0: storage }));
      flipped[flipped.indexOf(Buffer.from(storage)) + 9] ^= 1;
      expect(expectError(() => readTorchCheckpoint(flipped, FILE), 'CHECKPOINT_CORRUPT').data).to.include({ file: FILE, entry: 'archive/data/0' });
    });

    it('refuses a malicious pickle inside a checkpoint, naming the file and global', () => {
      const evil = w().global('os', 'system').str('rm -rf /').op('TUPLE1').op('REDUCE').stop();
      const err = expectError(() => readTorchCheckpoint(torchZip(evil, {}), FILE), 'PICKLE_FORBIDDEN_GLOBAL');
      expect(err.data).to.deep.equal({ file: FILE, global: 'os.system' });
    });

    it('refuses the legacy format with CHECKPOINT_UNSUPPORTED and other bytes as corrupt', () => {
      const legacy = Uint8Array.of(0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e);
      expect(expectError(() => readTorchCheckpoint(legacy, FILE), 'CHECKPOINT_UNSUPPORTED').data).to.include({ file: FILE, format: 'legacy-pickle' });
      expectError(() => readTorchCheckpoint(Buffer.from('not a checkpoint at all'), FILE), 'CHECKPOINT_CORRUPT');
      expectError(() => readTorchCheckpoint(new Uint8Array(0), FILE), 'CHECKPOINT_CORRUPT');
    });
  });

  describe('selectStateDict', () => {
    const tree = readTorchCheckpoint(torchZip(
      w().op('EMPTY_DICT').op('MARK')
        .str('model').op('EMPTY_DICT').str('a.weight').tensor('FloatStorage', '0', 1, 0, [1], [1]).op('SETITEM')
        .str('ema').op('EMPTY_DICT').str('v1.0').op('EMPTY_DICT').str('w').tensor('FloatStorage', '0', 1, 0, [1], [1]).op('SETITEM').op('SETITEM')
        .str('epoch').int(4).op('SETITEMS').stop(),
      { 0: le(Float32Array.of(1)) }), FILE);

    it('descends into a key or dotted path', () => {
      expect([...selectStateDict(tree, 'model', FILE).keys()]).to.deep.equal(['a.weight']);
      expect([...selectStateDict(tree, 'ema.v1.0', FILE).keys()]).to.deep.equal(['w']);
    });

    it('lists the available keys when a key is missing', () => {
      const err = expectError(() => selectStateDict(tree, 'model_ema', FILE), 'CHECKPOINT_MISMATCH');
      expect(err.data).to.deep.include({ file: FILE, key: 'model_ema', available: ['model', 'ema', 'epoch'] });
      expect(err.message).to.contain(FILE);
    });

    it('lists candidate state_dicts when the top level is a wrapper', () => {
      const err = expectError(() => selectStateDict(tree, undefined, FILE), 'CHECKPOINT_MISMATCH');
      expect(err.data.candidates).to.deep.equal(['model', 'ema.v1.0']);
      expect(expectError(() => selectStateDict(tree, 'epoch', FILE), 'CHECKPOINT_MISMATCH').data.candidates).to.deep.equal([]);
    });
  });

  describe('shared fixtures', () => {
    const pths = fs.existsSync(FIXTURES)
      ? fs.readdirSync(FIXTURES).flatMap((d) => (fs.statSync(path.join(FIXTURES, d)).isDirectory() ? fs.readdirSync(path.join(FIXTURES, d)).filter((f) => f.endsWith('.pth')).map((f) => path.join(FIXTURES, d, f)) : []))
      : [];

    it('finds .pth fixtures', () => expect(pths.length, FIXTURES).to.be.greaterThan(0));

    for (const pth of pths) {
      const caseName = path.relative(FIXTURES, pth).replace(/\.pth$/, '');
      it(`${caseName}.pth loads and holds the case's param.* tensors`, () => {
        const tree = readTorchCheckpoint(pth);
        const manifest = JSON.parse(fs.readFileSync(pth.replace(/\.pth$/, '.json'), 'utf8'));
        if (!manifest.checkpoint) return;
        const params = new Map([...readSafetensorsFile(path.join(path.dirname(pth), manifest.tensors)).tensors]
          .filter(([name]) => name.startsWith('param.')).map(([name, t]) => [name.slice('param.'.length), t]));
        // Params from another model's checkpoint (HART's tokenizer codebook) are named in the notes.
        const fromElsewhere = (name: string) => String(manifest.notes).includes(`param.${name}`);
        const stateDict = pickStateDict(tree, [...params.keys()].filter((n) => !fromElsewhere(n)), manifest.notes, pth);
        let compared = 0;
        for (const [name, expected] of params) {
          const got = stateDict.get(name);
          if (got === undefined && fromElsewhere(name)) continue;
          expect(got, `${caseName}: ${name}`).to.not.equal(undefined);
          expect(got!.shape, `${caseName}: ${name}`).to.deep.equal(expected.shape);
          expect(sameValues(got!, expected), `${caseName}: ${name} values`).to.equal(true);
          compared++;
        }
        expect(compared).to.be.greaterThan(0);
      });
    }
  });
});

/**
 * The top level if it holds the params, else the wrapper key holding them (the one the
 * notes say the case uses when several do, e.g. `model` and `model_ema`).
 */
function pickStateDict(tree: unknown, required: string[], notes: string, file: string): Map<string, HostTensor> {
  const holds = (sd: Map<string, HostTensor>) => required.every((n) => sd.has(n));
  try {
    const top = selectStateDict(tree as never, undefined, file);
    if (holds(top)) return top;
  } catch {
    // A wrapper: try its keys below.
  }
  const wrapper = tree as Map<string, unknown>;
  const keys = [...wrapper.keys()].filter((k) => {
    const v = wrapper.get(k);
    return v instanceof Map && v.size > 0 && [...v.values()].every(isHostTensor);
  });
  const candidates = keys.filter((k) => holds(selectStateDict(tree as never, k, file)));
  const named = candidates.filter((k) => new RegExp(`\\buses ${k}\\b`).test(notes));
  const key = named.length === 1 ? named[0] : candidates.length === 1 ? candidates[0] : undefined;
  expect(key, `${file}: wrapper keys ${keys}`).to.be.a('string');
  return selectStateDict(tree as never, key, file);
}

/** Identical float32 values (integer tensors compared as numbers, whatever their width). */
function sameValues(a: HostTensor, b: HostTensor): boolean {
  const fa = asFloat32(a);
  const fb = asFloat32(b);
  return fa.length === fb.length && fa.every((v, i) => Object.is(v, fb[i]));
}

function asFloat32(t: HostTensor): Float32Array {
  expect(t.dtype, 'half-precision params are not expected in these fixtures').to.not.be.oneOf(['float16', 'bfloat16']);
  return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number | bigint>, Number);
}
