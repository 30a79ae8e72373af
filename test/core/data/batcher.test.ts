/** Shuffled epochs: determinism under a seed, drop-last, and bit-exact resume from a saved position. */
import { expect } from 'chai';
import { Batcher, BatcherState, Dataset, Sample } from '@tessera/core';

/** 10 items of 3x2x2 whose pixels encode the index, so batches show which items they hold. */
function numbered(length = 10): Dataset & { reads: number } {
  return {
    length, classes: 5, source: 'numbered', resolution: 2, reads: 0,
    async get(i: number): Promise<Sample> {
      this.reads++;
      return { image: Float32Array.from({ length: 12 }, (_, k) => i + k / 100), label: i % 5 };
    },
  };
}

const firstPixels = (images: Float32Array): number[] => Array.from({ length: images.length / 12 }, (_, b) => Math.round(images[b * 12]));

describe('core/data/batcher', () => {
  it('serves every item once per epoch in a seeded order, dropping the incomplete batch', async () => {
    const b = new Batcher(numbered(), 3, 42);
    expect(b.batchesPerEpoch).to.equal(3);
    const epoch0: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { images, labels } = await b.next();
      expect(images.length).to.equal(3 * 12);
      const ids = firstPixels(images);
      expect(Array.from(labels)).to.deep.equal(ids.map((id) => id % 5));
      epoch0.push(...ids);
    }
    expect(new Set(epoch0).size).to.equal(9);
    expect(b.epoch).to.equal(0);
    const next = firstPixels((await b.next()).images);
    expect(b.epoch).to.equal(1);
    const again = new Batcher(numbered(), 3, 42);
    const replay: number[] = [];
    for (let i = 0; i < 4; i++) replay.push(...firstPixels((await again.next()).images));
    expect(replay).to.deep.equal([...epoch0, ...next]);
    const other = new Batcher(numbered(), 3, 43);
    expect(firstPixels((await other.next()).images).concat(firstPixels((await other.next()).images))).to.not.deep.equal(epoch0.slice(0, 6));
  });

  it('resumes bit-exactly from a state saved mid-epoch, through JSON, with flips', async () => {
    const run = new Batcher(numbered(), 4, 7, { flip: true });
    for (let i = 0; i < 3; i++) await run.next(); // into the second epoch (2 batches per epoch)
    const saved = JSON.parse(JSON.stringify(run.state())) as BatcherState;
    expect(saved).to.include({ epoch: 1, index: 4, batchSize: 4, length: 10, seed: 7 });
    const expected = [];
    for (let i = 0; i < 5; i++) expected.push(await run.next());
    const resumed = new Batcher(numbered(), 4, 7, { flip: true });
    resumed.restore(saved);
    for (let i = 0; i < 5; i++) expect(await resumed.next()).to.deep.equal(expected[i]);
    const flips = expected.flatMap(({ images }) => Array.from({ length: 4 }, (_, b) => images[b * 12 + 1] < images[b * 12]));
    expect(flips).to.include(true).and.include(false);
  });

  it('refuses a saved position from other data, batch size, seed or flip setting', () => {
    const state = new Batcher(numbered(), 2, 1).state();
    for (const make of [() => new Batcher(numbered(11), 2, 1), () => new Batcher(numbered(), 3, 1), () => new Batcher(numbered(), 2, 2), () => new Batcher(numbered(), 2, 1, { flip: true })]) {
      try {
        make().restore(state);
        expect.fail('restored');
      } catch (e) {
        expect((e as { code: string }).code).to.equal('CHECKPOINT_MISMATCH');
      }
    }
    expect(() => new Batcher(numbered(), 11, 1)).to.throw().with.property('code', 'CONFIG_INVALID');
  });
});
