import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { imageGrid, loadImage, saveImage, saveImageGrid } from '@tessera/core';
import { expectCode } from '../../helpers';

describe('core/image', () => {
  let dir: string;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tessera-img-'));
    // a 5x3 grayscale PNG with a horizontal ramp, and a 30x20 RGB JPEG
    await sharp(Buffer.from([0, 64, 128, 192, 255, 0, 64, 128, 192, 255, 0, 64, 128, 192, 255]), { raw: { width: 5, height: 3, channels: 1 } }).png().toFile(path.join(dir, 'gray.png'));
    await sharp({ create: { width: 30, height: 20, channels: 3, background: { r: 255, g: 0, b: 0 } } }).jpeg().toFile(path.join(dir, 'red.jpg'));
    writeFileSync(path.join(dir, 'notes.png'), 'not an image');
  });

  it('loads grayscale as RGB in [-1, 1], CHW', async () => {
    const img = await loadImage(path.join(dir, 'gray.png'));
    expect([img.width, img.height]).to.deep.equal([5, 3]);
    expect(img.data.length).to.equal(3 * 15);
    for (let c = 0; c < 3; c++) expect(Array.from(img.data.subarray(c * 15, c * 15 + 5)).map((v) => Math.round(((v + 1) / 2) * 255))).to.deep.equal([0, 64, 128, 192, 255]);
    expect(img.note).to.equal(undefined);
  });

  it('resizes and center-crops to a square with a note', async () => {
    const img = await loadImage(path.join(dir, 'red.jpg'), { size: 16 });
    expect([img.width, img.height]).to.deep.equal([16, 16]);
    expect(img.note).to.contain('30x20').and.to.contain('16x16');
    expect(img.data[0]).to.be.greaterThan(0.9); // red channel
    expect(img.data[16 * 16]).to.be.lessThan(-0.9); // green channel
  });

  it('names the file of a non-image or a missing file', async () => {
    for (const [file, code] of [['notes.png', 'IMAGE_INVALID'], ['missing.png', 'FILE_NOT_FOUND']]) {
      let err: unknown;
      try { await loadImage(path.join(dir, file)); } catch (e) { err = e; }
      expectCode(() => { if (err) throw err; }, code);
      expect((err as Error).message).to.contain(file);
    }
  });

  it('saves PNGs and labelled grids atomically, leaving no temp files', async () => {
    const red = new Float32Array(3 * 4 * 4).fill(-1);
    red.fill(1, 0, 16);
    await saveImage(path.join(dir, 'out', 'one.png'), red, 4, 4);
    const meta = await sharp(path.join(dir, 'out', 'one.png')).metadata();
    expect([meta.width, meta.height, meta.channels]).to.deep.equal([4, 4, 3]);
    await saveImageGrid(path.join(dir, 'out', 'grid.png'), [red, red, red], 4, 4, { columns: 2, padding: 1, labels: ['a', 'b', 'c'] });
    const grid = await sharp(await imageGrid([red, red, red], 4, 4, { columns: 2, padding: 1 })).metadata();
    expect([grid.width, grid.height]).to.deep.equal([2 * 5 + 1, 2 * 5 + 1]);
    expect(existsSync(path.join(dir, 'out', 'grid.png'))).to.equal(true);
    expect(readdirSync(path.join(dir, 'out')).filter((f) => f.startsWith('.tessera-tmp'))).to.deep.equal([]);
  });
});
