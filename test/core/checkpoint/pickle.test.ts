import { expect } from 'chai';
import { unpickle } from '@tessera/core';
import { expectError, PickleWriter } from './helpers';

const FILE = 'evil.pth';
const load = (bytes: Uint8Array) => unpickle(bytes, { file: FILE });
const w = () => new PickleWriter().proto(2);

describe('checkpoint/pickle', () => {
  describe('plain data', () => {
    it('decodes numbers, strings, bytes, None and booleans', () => {
      const bytes = w().op('MARK')
        .int(7).int(300).int(70000).int(-5).long1(-(2n ** 70n)).long1(255n).float(0.25)
        .str('héllo').shortStr('k').bytes(Uint8Array.of(1, 2)).op('NONE').op('NEWTRUE').op('NEWFALSE')
        .op('LIST').stop();
      expect(load(bytes)).to.deep.equal([7, 300, 70000, -5, -(2n ** 70n), 255, 0.25, 'héllo', 'k', Uint8Array.of(1, 2), null, true, false]);
    });

    it('decodes dicts, lists and tuples, and shares memoized objects', () => {
      const bytes = w().op('EMPTY_DICT').put(0)
        .str('list').op('EMPTY_LIST').put(1).int(1).op('APPEND').op('MARK').int(2).int(3).op('APPENDS').op('SETITEM')
        .str('again').get(1).op('SETITEM')
        .op('MARK').str('t1').int(1).op('TUPLE1').str('t3').int(1).int(2).int(3).op('TUPLE3').str('empty').op('EMPTY_TUPLE').op('SETITEMS')
        .stop();
      const tree = load(bytes) as Map<string, unknown>;
      expect([...tree.keys()]).to.deep.equal(['list', 'again', 't1', 't3', 'empty']);
      expect(tree.get('list')).to.deep.equal([1, 2, 3]);
      expect(tree.get('again')).to.equal(tree.get('list'));
      expect(tree.get('t3')).to.deep.equal([1, 2, 3]);
      expect(Object.isFrozen(tree.get('t1'))).to.equal(true);
    });

    it('decodes protocol 4 with FRAME, MEMOIZE and STACK_GLOBAL', () => {
      const bytes = new PickleWriter().proto(4).raw(0x95, 20, 0, 0, 0, 0, 0, 0, 0)
        .shortStr('collections').op('MEMOIZE').shortStr('OrderedDict').op('MEMOIZE').op('STACK_GLOBAL').op('MEMOIZE')
        .op('EMPTY_TUPLE').op('REDUCE').op('MEMOIZE').shortStr('a').int(1).op('SETITEM').stop();
      expect(load(bytes)).to.deep.equal(new Map([['a', 1]]));
    });

    it('decodes an OrderedDict whose state (_metadata) is set by BUILD', () => {
      const bytes = w().global('collections', 'OrderedDict').op('EMPTY_TUPLE').op('REDUCE')
        .str('w').int(1).op('SETITEM')
        .op('EMPTY_DICT').str('_metadata').op('EMPTY_DICT').op('SETITEM').op('BUILD').stop();
      expect(load(bytes)).to.deep.equal(new Map([['w', 1]]));
    });

    it('decodes torch dtypes and torch.Size as data', () => {
      const bytes = w().op('MARK').global('torch', 'bfloat16')
        .global('torch', 'Size').int(2).int(3).op('TUPLE2').op('TUPLE1').op('REDUCE').op('LIST').stop();
      expect(load(bytes)).to.deep.equal(['bfloat16', [2, 3]]);
    });
  });

  describe('objects decoded without calling them', () => {
    it('turns argparse.Namespace into a plain object of its attributes', () => {
      const bytes = w().global('argparse', 'Namespace').op('EMPTY_TUPLE').op('NEWOBJ')
        .op('EMPTY_DICT').op('MARK').str('model').str('mar_base').str('epochs').int(400).str('__proto__').str('x').op('SETITEMS')
        .op('BUILD').stop();
      const args = load(bytes) as Record<string, unknown>;
      expect(Object.keys(args)).to.deep.equal(['model', 'epochs', '__proto__']);
      expect(args.model).to.equal('mar_base');
      expect(args.epochs).to.equal(400);
      expect(Object.getPrototypeOf(args)).to.equal(Object.prototype);
    });

    it('decodes numpy scalars (dtype + latin1-encoded bytes, as protocol 2 writes them)', () => {
      const scalar = (p: PickleWriter, code: string, raw: Buffer) => p
        .global('numpy.core.multiarray', 'scalar')
        .global('numpy', 'dtype').str(code).op('NEWFALSE').op('NEWTRUE').op('TUPLE3').op('REDUCE')
        .op('MARK').int(3).str('<').op('NONE').op('NONE').op('NONE').int(-1).int(-1).int(0).op('TUPLE').op('BUILD')
        .global('_codecs', 'encode').str(raw.toString('latin1')).str('latin1').op('TUPLE2').op('REDUCE')
        .op('TUPLE2').op('REDUCE');
      const f8 = Buffer.alloc(8);
      f8.writeDoubleLE(0.875);
      const i8 = Buffer.alloc(8);
      i8.writeBigInt64LE(-42n);
      const p = w().op('MARK');
      scalar(p, 'f8', f8);
      scalar(p, 'i8', i8);
      scalar(p, 'b1', Buffer.from([1]));
      const all = p.op('LIST').stop();
      expect(load(all)).to.deep.equal([0.875, -42, true]);
    });
  });

  describe('the allow-list', () => {
    const forbidden = (bytes: Uint8Array, global: string) => {
      const err = expectError(() => load(bytes), 'PICKLE_FORBIDDEN_GLOBAL');
      expect(err.data).to.deep.equal({ file: FILE, global });
      expect(err.message).to.contain(FILE).and.contain(global);
    };

    it('refuses os.system before anything could call it', () => {
      forbidden(w().global('os', 'system').str('echo pwned').op('TUPLE1').op('REDUCE').stop(), 'os.system');
      // Refused at the GLOBAL itself: whatever follows is never looked at.
      forbidden(w().global('os', 'system').raw(0xff, 0xff).stop(), 'os.system');
    });

    it('refuses builtins.eval and friends, however they are named', () => {
      forbidden(new PickleWriter().proto(4).shortStr('builtins').shortStr('eval').op('STACK_GLOBAL')
        .shortStr('__import__("os").system("x")').op('TUPLE1').op('REDUCE').stop(), 'builtins.eval');
      forbidden(w().global('__builtin__', 'eval').stop(), '__builtin__.eval');
      forbidden(w().global('builtins', 'getattr').stop(), 'builtins.getattr');
      forbidden(w().raw(0x69, ...Buffer.from('os\nsystem\n')).stop(), 'os.system'); // INST
      forbidden(w().global('torch', 'load').stop(), 'torch.load');
      forbidden(w().global('torch._utils', '_rebuild_tensor_v2 ').stop(), 'torch._utils._rebuild_tensor_v2 ');
      forbidden(w().global('numpy.core.multiarray', '_reconstruct').stop(), 'numpy.core.multiarray._reconstruct');
      forbidden(w().global('collections', 'defaultdict').stop(), 'collections.defaultdict');
    });

    it('only lets allowed globals be used the way a state_dict uses them', () => {
      expectError(() => load(w().global('torch', 'float32').op('EMPTY_TUPLE').op('REDUCE').stop()), 'CHECKPOINT_UNSUPPORTED');
      expectError(() => load(w().global('collections', 'OrderedDict').op('EMPTY_TUPLE').op('NEWOBJ').stop()), 'CHECKPOINT_UNSUPPORTED');
      expectError(() => load(w().global('argparse', 'Namespace').op('EMPTY_TUPLE').op('REDUCE').stop()), 'CHECKPOINT_UNSUPPORTED');
      expectError(() => load(w().global('_codecs', 'encode').str('x').str('utf-7').op('TUPLE2').op('REDUCE').stop()), 'CHECKPOINT_UNSUPPORTED');
      expectError(() => load(w().op('EMPTY_LIST').op('EMPTY_DICT').op('BUILD').stop()), 'CHECKPOINT_UNSUPPORTED');
    });

    it('refuses tensors and persistent ids outside a torch checkpoint', () => {
      const bytes = w().tensor('FloatStorage', '0', 1, 0, [1], [1]).stop();
      expectError(() => load(bytes), 'CHECKPOINT_UNSUPPORTED');
    });
  });

  describe('malformed pickles', () => {
    it('reports truncation, bad memo reads and stack underflow as CHECKPOINT_CORRUPT', () => {
      const good = w().op('EMPTY_DICT').str('key').int(1).op('SETITEM').stop();
      for (const cut of [1, 3, 6]) expect(expectError(() => load(good.subarray(0, good.length - cut)), 'CHECKPOINT_CORRUPT').data.file).to.equal(FILE);
      expectError(() => load(w().get(3).stop()), 'CHECKPOINT_CORRUPT');
      expectError(() => load(w().op('REDUCE').stop()), 'CHECKPOINT_CORRUPT');
      expectError(() => load(w().op('NONE').op('NONE').stop()), 'CHECKPOINT_CORRUPT');
      expectError(() => load(w().op('EMPTY_TUPLE').int(1).op('APPEND').stop()), 'CHECKPOINT_CORRUPT');
      expectError(() => load(w().raw(0x58, 0xff, 0xff, 0xff, 0x7f).stop()), 'CHECKPOINT_CORRUPT');
    });

    it('reports unknown opcodes and newer protocols as CHECKPOINT_UNSUPPORTED', () => {
      expect(expectError(() => load(w().raw(0x82, 1).stop()), 'CHECKPOINT_UNSUPPORTED').data).to.include({ file: FILE, opcode: 0x82 });
      expectError(() => load(new PickleWriter().proto(6).op('NONE').stop()), 'CHECKPOINT_UNSUPPORTED');
    });
  });
});
