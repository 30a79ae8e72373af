/** RandomHorizontalFlip through the draw source, and the resize preprocessing. */
import { expect } from 'chai';
import { flipHorizontal, preprocessPixels, randomFlip, ReplayDraws, SeededDraws, hostTensor } from '@tessera/core';

const image = Float32Array.from({ length: 3 * 4 * 4 }, (_, i) => i / 48);

describe('core/data/transforms', () => {
  it('flips when the one uniform draw is below 0.5, as torchvision', () => {
    const draws = new ReplayDraws([
      { name: 'u0', tensor: hostTensor('float32', [1], Float32Array.of(0.25)) },
      { name: 'u1', tensor: hostTensor('float32', [1], Float32Array.of(0.5)) },
    ]);
    const flipped = randomFlip(image, 4, draws);
    expect(Array.from(flipped.subarray(0, 4))).to.deep.equal([3, 2, 1, 0].map((i) => image[i]));
    expect(Array.from(flipped.subarray(44, 48))).to.deep.equal([47, 46, 45, 44].map((i) => image[i]));
    const kept = randomFlip(image, 4, draws);
    expect(kept).to.deep.equal(image);
    expect(kept).to.not.equal(image);
    expect(draws.remaining).to.equal(0);
    expect(flipHorizontal(flipHorizontal(image, 4), 4)).to.deep.equal(image);
  });

  it('is deterministic under a seed and flips about half the time', () => {
    const run = (seed: number): boolean[] => {
      const draws = SeededDraws.fromSeed(seed);
      return Array.from({ length: 200 }, () => randomFlip(image, 4, draws)[0] !== image[0]);
    };
    const a = run(5);
    expect(run(5)).to.deep.equal(a);
    expect(run(6)).to.not.deep.equal(a);
    expect(a.filter(Boolean).length).to.be.within(70, 130);
  });

  it('resize squashes to the square; center-crop keeps the aspect ratio', () => {
    const data = Uint8Array.from({ length: 8 * 4 }, (_, i) => (i % 8) * 30);
    const img = { data, width: 8, height: 4, channels: 1 };
    const resized = preprocessPixels(img, 4, 'resize');
    const cropped = preprocessPixels(img, 4, 'center-crop');
    expect(resized.length).to.equal(48);
    expect(cropped.length).to.equal(48);
    // Left to right the resized row spans the whole ramp; the crop only its middle.
    expect(resized[0]).to.be.below(cropped[0]);
    expect(resized[3]).to.be.above(cropped[3]);
  });
});
