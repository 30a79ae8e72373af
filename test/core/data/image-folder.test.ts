/** The image-folder dataset: classes from sorted subfolders, the official crop, and bad files skipped and reported. */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { centerCropArr, ImageFolderDataset, openDataset, SkippedFile, toNormalizedChw } from '@tessera/core';
import { removeTempDirs, tempDir, writePng } from './helpers';

describe('core/data/image-folder', () => {
  after(removeTempDirs);
  let root: string;
  before(async () => {
    root = tempDir('folder');
    await writePng(path.join(root, 'zebra', 'a.png'), 40, 30, 1);
    await writePng(path.join(root, 'zebra', 'nested', 'b.png'), 20, 20, 2);
    await writePng(path.join(root, 'apple', 'c.png'), 17, 23, 3);
    await writePng(path.join(root, 'apple', 'd.png'), 64, 64, 4);
    writeFileSync(path.join(root, 'apple', 'readme.txt'), 'not an image');
    writeFileSync(path.join(root, 'zebra', 'broken.png'), Buffer.from('this is not a png at all'));
  });

  it('maps sorted subfolders to classes and skips (and reports once) non-image and corrupt files', async () => {
    const reports: SkippedFile[][] = [];
    const data = await openDataset(root, { resolution: 16, onSkipped: (files) => reports.push(files) });
    expect(data).to.be.instanceOf(ImageFolderDataset);
    expect(data.classNames).to.deep.equal(['apple', 'zebra']);
    expect([data.length, data.classes]).to.deep.equal([4, 2]);
    expect(reports).to.have.length(1);
    expect(reports[0].map((s) => path.basename(s.path))).to.deep.equal(['readme.txt', 'broken.png']);
    expect(data.skipped?.map((s) => s.path)).to.deep.equal([path.join(root, 'apple', 'readme.txt'), path.join(root, 'zebra', 'broken.png')]);
    const labels = await Promise.all([0, 1, 2, 3].map(async (i) => (await data.get(i)).label));
    expect(labels).to.deep.equal([0, 0, 1, 1]);
  });

  it('decodes to RGB and applies the official center crop on 8-bit pixels', async () => {
    const data = await openDataset(root, { resolution: 16 });
    const { data: raw, info } = await sharp(path.join(root, 'zebra', 'a.png')).raw().toBuffer({ resolveWithObject: true });
    const want = toNormalizedChw(centerCropArr({ data: new Uint8Array(raw), width: info.width, height: info.height, channels: 3 }, 16));
    const got = (await data.get(2)).image;
    expect(got.length).to.equal(3 * 16 * 16);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    expect(worst).to.be.below(1e-6);
  });

  it('skips an image that fails to decode later, serving the next good one, and reports it', async () => {
    const dir = tempDir('folder-trunc');
    await writePng(path.join(dir, 'a', '0.png'), 16, 16, 5);
    await writePng(path.join(dir, 'a', '1.png'), 16, 16, 6);
    await writePng(path.join(dir, 'b', '2.png'), 16, 16, 7);
    const cut = path.join(dir, 'a', '1.png');
    const reports: SkippedFile[][] = [];
    const data = await openDataset(dir, { resolution: 8, onSkipped: (f) => reports.push(f) });
    writeFileSync(cut, readFileSync(cut).subarray(0, 60)); // the header still reads; the pixels do not
    const served = await data.get(1);
    expect(served.label).to.equal(1);
    expect(served.image).to.deep.equal((await data.get(2)).image);
    expect(reports).to.have.length(1);
    expect(reports[0][0].path).to.equal(cut);
    expect(data.skipped?.map((s) => s.path)).to.deep.equal([cut]);
    await data.get(1);
    expect(reports).to.have.length(1);
  });

  it('uses the train/test subfolders of a split folder', async () => {
    const dir = tempDir('folder-split');
    await writePng(path.join(dir, 'train', 'cat', '0.png'), 8, 8, 1);
    await writePng(path.join(dir, 'train', 'dog', '1.png'), 8, 8, 2);
    await writePng(path.join(dir, 'val', 'cat', '2.png'), 8, 8, 3);
    expect((await openDataset(dir, { resolution: 8 })).length).to.equal(2);
    const val = await openDataset(dir, { resolution: 8, split: 'test' });
    expect([val.length, val.classNames]).to.deep.equal([1, ['cat']]);
  });
});
