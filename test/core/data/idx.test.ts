/** The IDX reader (plain and gzipped, every dtype, strict sizes) and the IDX dataset behind openDataset. */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { centerCropArr, encodeIdx, hostTensor, IdxDataset, openDataset, parseIdx, readIdxFile, TesseraError } from '@tessera/core';
import { expectCode } from '../../helpers';
import { removeTempDirs, tempDir, writeIdxPair } from './helpers';

async function rejects(p: Promise<unknown>, code: string): Promise<TesseraError> {
  try {
    await p;
  } catch (e) {
    expect((e as TesseraError).code, String(e)).to.equal(code);
    return e as TesseraError;
  }
  return expect.fail(`expected ${code}`);
}

describe('core/data/idx', () => {
  after(removeTempDirs);
  it('round-trips every IDX dtype, big-endian, with its shape', () => {
    const cases = [
      hostTensor('uint8', [2, 3], Uint8Array.of(0, 1, 2, 253, 254, 255)),
      hostTensor('int8', [3], Int8Array.of(-128, 0, 127)),
      hostTensor('int16', [2], Int16Array.of(-300, 300)),
      hostTensor('int32', [1, 2], Int32Array.of(-70000, 70000)),
      hostTensor('float32', [2], Float32Array.of(1.5, -2.25)),
      hostTensor('float64', [2], Float64Array.of(Math.PI, -1e300)),
    ];
    for (const t of cases) {
      const back = parseIdx(encodeIdx(t), 'mem');
      expect(back.dtype).to.equal(t.dtype);
      expect(back.shape).to.deep.equal(t.shape);
      expect(Array.from(back.data as ArrayLike<number>)).to.deep.equal(Array.from(t.data as ArrayLike<number>));
    }
    // The header is big-endian: int16 [2] stores dim 2 as 00 00 00 02 and -300 as FE D4.
    expect(Array.from(encodeIdx(cases[2]))).to.deep.equal([0, 0, 0x0b, 1, 0, 0, 0, 2, 0xfe, 0xd4, 0x01, 0x2c]);
  });

  it('reads gzipped files like plain ones', () => {
    const dir = tempDir('idx');
    const t = hostTensor('uint8', [4, 5], Uint8Array.from({ length: 20 }, (_, i) => i * 7));
    writeFileSync(path.join(dir, 'a'), encodeIdx(t));
    writeFileSync(path.join(dir, 'a.gz'), gzipSync(encodeIdx(t)));
    expect(readIdxFile(path.join(dir, 'a.gz'))).to.deep.equal(readIdxFile(path.join(dir, 'a')));
  });

  it('refuses truncated, over-long and non-IDX files, naming the file and the byte counts', () => {
    const dir = tempDir('idx-bad');
    const bytes = encodeIdx(hostTensor('uint8', [3, 4, 4], new Uint8Array(48)));
    const truncated = path.join(dir, 'train-images-idx3-ubyte');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 5));
    let e = expectCode(() => readIdxFile(truncated), 'DATASET_INVALID');
    expect(e.data).to.include({ file: truncated, bytes: bytes.length - 5, expected: bytes.length });
    expect(e.message).to.contain(truncated).and.contain(String(bytes.length));

    e = expectCode(() => parseIdx(Uint8Array.from([...bytes, 0]), 'long'), 'DATASET_INVALID');
    expect(e.data).to.include({ bytes: bytes.length + 1, expected: bytes.length });
    e = expectCode(() => parseIdx(bytes.subarray(0, 10), 'header'), 'DATASET_INVALID');
    expect(e.data).to.include({ bytes: 10, expected: 16 });
    expectCode(() => parseIdx(Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0, 0), 'png'), 'DATASET_INVALID');
    expectCode(() => parseIdx(Uint8Array.of(0, 0, 0x07, 1, 0, 0, 0, 0), 'type'), 'DATASET_INVALID');

    const gz = path.join(dir, 'cut.gz');
    const zipped = gzipSync(bytes);
    writeFileSync(gz, zipped.subarray(0, zipped.length - 8));
    e = expectCode(() => readIdxFile(gz), 'DATASET_INVALID');
    expect(e.data.file).to.equal(gz);
    expectCode(() => readIdxFile(path.join(dir, 'missing')), 'FILE_NOT_FOUND');
  });

  it('opens an IDX folder: grayscale to RGB through the official crop, labels, classes, both splits', async () => {
    const dir = tempDir('idx-set');
    const train = writeIdxPair(dir, 12, { gzip: true });
    writeIdxPair(dir, 5, { split: 't10k', seed: 2 });
    const data = await openDataset(dir, { resolution: 32 });
    expect(data).to.be.instanceOf(IdxDataset);
    expect([data.length, data.classes, data.resolution]).to.deep.equal([12, 10, 32]);
    expect(data.source).to.contain('(train)');
    const { image, label } = await data.get(3);
    expect(label).to.equal(3);
    expect(image.length).to.equal(3 * 32 * 32);
    // 28 -> 32: no box halving, a Pillow-bicubic upscale to 32x32 and a zero-offset crop.
    const crop = centerCropArr({ data: train.pixels.subarray(3 * 784, 4 * 784), width: 28, height: 28, channels: 1 }, 32);
    for (const i of [0, 100, 1023]) {
      const want = Math.fround(Math.fround(Math.fround(crop.data[i] / 255) - 0.5) / 0.5);
      expect([image[i], image[1024 + i], image[2048 + i]]).to.deep.equal([want, want, want]);
    }
    const test = await openDataset(dir, { resolution: 28, split: 'test', preprocess: 'resize' });
    expect(test.length).to.equal(5);
    const first = await test.get(0);
    expect(first.image[0]).to.be.within(-1, 1);
  });

  it('explains what a folder lacks and refuses bad options', async () => {
    const dir = tempDir('idx-none');
    writeFileSync(path.join(dir, 'notes.txt'), 'hello');
    const e = await rejects(openDataset(dir, { resolution: 32 }), 'DATASET_INVALID');
    expect(e.data.path).to.equal(dir);
    expect(e.message).to.contain('train-images-idx3-ubyte');
    await rejects(openDataset(path.join(dir, 'nope'), { resolution: 32 }), 'FILE_NOT_FOUND');
    await rejects(openDataset(path.join(dir, 'notes.txt'), { resolution: 32 }), 'DATASET_INVALID');
    await rejects(openDataset(dir, { resolution: 0 }), 'CONFIG_INVALID');
    await rejects(openDataset(dir, { resolution: 8, preprocess: 'squash' as never }), 'CONFIG_INVALID');
    const onlyTest = tempDir('idx-test-only');
    writeIdxPair(onlyTest, 3, { split: 't10k' });
    await rejects(openDataset(onlyTest, { resolution: 32 }), 'DATASET_INVALID');
    const truncated = tempDir('idx-cut');
    writeIdxPair(truncated, 3);
    const images = path.join(truncated, 'train-images-idx3-ubyte');
    writeFileSync(images, readFileSync(images).subarray(0, 100));
    expect((await rejects(openDataset(truncated, { resolution: 32 }), 'DATASET_INVALID')).data.file).to.equal(images);
  });
});
