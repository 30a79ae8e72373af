import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { loadWeights, describeWeights, writeSafetensorsFile } from '@tessera/core';
import { FIXTURES, PickleWriter, expectError, le, torchZip } from './helpers';


describe('checkpoint/index', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-weights-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const pickle = new PickleWriter().proto(2).op('EMPTY_DICT').str('model').op('EMPTY_DICT')
    .str('w').tensor('FloatStorage', '0', 2, 0, [2], [1]).op('SETITEM').op('SETITEM').stop();

  it('loads torch files by extension, selecting the key', () => {
    for (const ext of ['.pth', '.pt', '.ckpt', '.bin']) {
      const file = path.join(dir, `m${ext}`);
      fs.writeFileSync(file, torchZip(pickle, { 0: le(Float32Array.of(1, 2)) }));
      expect([...loadWeights(file, { key: 'model' }).get('w')!.data]).to.deep.equal([1, 2]);
      expect(expectError(() => loadWeights(file), 'CHECKPOINT_MISMATCH').data.candidates).to.deep.equal(['model']);
    }
  });

  it('loads safetensors, where a key selects and strips a name prefix', () => {
    const file = path.join(dir, 'w.safetensors');
    const t = { dtype: 'float32' as const, shape: [1], data: Float32Array.of(1) };
    writeSafetensorsFile(file, { 'vae.a': t, 'vae.b': t, 'gpt.c': t });
    expect([...loadWeights(file).keys()].sort()).to.deep.equal(['gpt.c', 'vae.a', 'vae.b']);
    expect([...loadWeights(file, { key: 'vae' }).keys()].sort()).to.deep.equal(['a', 'b']);
    expect(expectError(() => loadWeights(file, { key: 'unet' }), 'CHECKPOINT_MISMATCH').data.available).to.deep.equal(['gpt', 'vae']);
  });

  it('reports a missing file as FILE_NOT_FOUND and unknown extensions as unsupported', () => {
    const missing = path.join(dir, 'missing.pth');
    expect(expectError(() => loadWeights(missing), 'FILE_NOT_FOUND').data.path).to.equal(missing);
    const odd = path.join(dir, 'w.npz');
    fs.writeFileSync(odd, 'x');
    expect(expectError(() => loadWeights(odd), 'CHECKPOINT_UNSUPPORTED').data).to.include({ file: odd, extension: '.npz' });
  });

  it('reports a truncated .pth as CHECKPOINT_CORRUPT naming the file', () => {
    const source = fs.readdirSync(FIXTURES).flatMap((d) => {
      const sub = path.join(FIXTURES, d);
      return fs.statSync(sub).isDirectory() ? fs.readdirSync(sub).filter((f) => f.endsWith('.pth')).map((f) => path.join(sub, f)) : [];
    })[0];
    expect(source, 'a .pth fixture').to.be.a('string');
    const bytes = fs.readFileSync(source);
    for (const keep of [bytes.length - 100, Math.floor(bytes.length / 2), 100]) {
      const file = path.join(dir, 'cut.pth');
      fs.writeFileSync(file, bytes.subarray(0, keep));
      expect(expectError(() => loadWeights(file), 'CHECKPOINT_CORRUPT').data.file).to.equal(file);
    }
  });

  it('describes weights with per-tensor rows and totals', () => {
    const weights = new Map([
      ['a', { dtype: 'float32' as const, shape: [2, 3], data: new Float32Array(6) }],
      ['b', { dtype: 'int64' as const, shape: [4], data: new BigInt64Array(4) }],
    ]);
    expect(describeWeights(weights)).to.deep.equal({
      rows: [
        { name: 'a', dtype: 'float32', shape: [2, 3], numel: 6 },
        { name: 'b', dtype: 'int64', shape: [4], numel: 4 },
      ],
      tensors: 2,
      numel: 10,
      bytes: 56,
      numelByDtype: { float32: 6, int64: 4 },
    });
  });
});
