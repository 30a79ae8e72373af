/**
 * Latent caching with a tiny `vae` tokenizer built through the plugin host: the cache
 * holds the raw moments of every image and its mirror (MAR's main_cache.py); an
 * interrupted build resumes from its finished chunks and ends equal to a fresh build;
 * tokens from the cache are the tokenizer's own posterior samples.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import {
  buildLatentCache, CachedLatentDataset, cachedTokens, Dataset, Engine, flipHorizontal, Generator, LatentBatcher,
  latentCacheKey, latentCodec, readSafetensorsFile, Rng, Sample, SeededDraws, TfjsEngine, Tokenizer,
} from '@tessera/core';
import { buildTiny, disposeGenerator, tinyConfig } from '../sampler/tiny-generators';
import { removeTempDirs, tempDir } from './helpers';

const R = 8;

function randomImages(length: number, seed: number): Dataset & { images: Float32Array[] } {
  const rng = new Rng(seed);
  const images = Array.from({ length }, () => Float32Array.from({ length: 3 * R * R }, () => rng.uniform() * 2 - 1));
  return { length, classes: 3, source: `random-${seed}`, resolution: R, images, async get(i: number): Promise<Sample> { return { image: images[i], label: i % 3 }; } };
}

async function read(engine: Engine, t: Parameters<Engine['read']>[0]): Promise<Float32Array> {
  return Float32Array.from(await engine.read(t));
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('core/data/latent-cache', () => {
  after(removeTempDirs);
  let engine: Engine;
  let generator: Generator;
  let tokenizer: Tokenizer;
  const data = randomImages(10, 3);

  before(async () => {
    engine = await TfjsEngine.create();
    generator = buildTiny(engine, tinyConfig('masked'), 5);
    tokenizer = generator.tokenizer;
  });
  after(() => disposeGenerator(generator));

  it('resumes an interrupted build chunk by chunk and ends equal to a fresh build', async () => {
    const dir = tempDir('cache');
    const file = path.join(dir, 'latents.safetensors');
    const options = { file, engine, chunkSize: 3, batchSize: 2 };
    const before = engine.liveTensors();
    const first = await buildLatentCache(tokenizer, data, { ...options, maxChunks: 2 });
    expect(first).to.include({ complete: false, encoded: 6, total: 10, builtChunks: 2, reusedChunks: 0 });
    expect(existsSync(file)).to.equal(false);
    const second = await buildLatentCache(tokenizer, data, options);
    expect(second).to.include({ complete: true, encoded: 10, builtChunks: 2, reusedChunks: 2 });
    expect(existsSync(`${file}.parts`)).to.equal(false);
    const third = await buildLatentCache(tokenizer, data, options);
    expect(third).to.include({ complete: true, builtChunks: 0, reusedChunks: 0 });
    expect(engine.liveTensors()).to.equal(before);

    const freshFile = path.join(tempDir('cache-fresh'), 'latents.safetensors');
    await buildLatentCache(tokenizer, data, { ...options, file: freshFile });
    const a = readSafetensorsFile(file), b = readSafetensorsFile(freshFile);
    expect([...a.tensors.keys()].sort()).to.deep.equal(['flip.moments', 'image.moments', 'labels']);
    expect(a.tensors).to.deep.equal(b.tensors);
    expect(a.metadata).to.deep.equal(b.metadata);
    expect(a.tensors.get('image.moments')?.shape).to.deep.equal([10, 8, 4, 4]);
  });

  it('stores the raw moments of each image and of its mirror', async () => {
    const file = path.join(tempDir('cache-moments'), 'c.safetensors');
    const build = await buildLatentCache(tokenizer, data, { file, engine, batchSize: 4 });
    const cache = CachedLatentDataset.open(file, build.key);
    expect([cache.length, cache.classes, cache.flip, cache.resolution]).to.deep.equal([10, 3, true, R]);
    const x = engine.tensor(Float32Array.of(...data.images[4], ...flipHorizontal(data.images[4], R)), [2, 3, R, R]);
    const stored = latentCodec(tokenizer).store(x);
    const moments = await read(engine, stored.moments);
    engine.dispose([x, stored.moments]);
    const plane = moments.length / 2;
    const item = cache.get(4);
    expect(item.flipped).to.equal(false);
    expect(item.label).to.equal(1);
    expect(maxDiff(item.stored.moments.data as Float32Array, moments.subarray(0, plane))).to.be.below(1e-5);
    const mirror = cache.batch(Int32Array.of(4), { uniform: () => Float32Array.of(0.9) } as never);
    expect(mirror.flipped[0]).to.equal(1);
    expect(maxDiff(mirror.stored.moments.data as Float32Array, moments.subarray(plane))).to.be.below(1e-5);
  });

  it('serves shuffled batches whose tokens are the tokenizer posterior samples, resumable', async () => {
    const file = path.join(tempDir('cache-batches'), 'c.safetensors');
    await buildLatentCache(tokenizer, data, { file, engine, flip: false });
    const cache = CachedLatentDataset.open(file);
    const batcher = new LatentBatcher(cache, 4, 9);
    const saved = batcher.state();
    const batch = batcher.next();
    expect(batch.stored.moments.shape).to.deep.equal([4, 8, 4, 4]);
    const resumed = new LatentBatcher(cache, 4, 9);
    resumed.restore(JSON.parse(JSON.stringify(saved)));
    expect(resumed.next()).to.deep.equal(batch);

    const ids = Array.from(batch.labels.keys(), (b) => data.images.findIndex((_, i) => cache.get(i).stored.moments.data[0] === batch.stored.moments.data[b * 128]));
    const tokens = cachedTokens(engine, tokenizer, batch.stored, SeededDraws.fromSeed(11));
    const x = engine.tensor(Float32Array.from(ids.flatMap((i) => Array.from(data.images[i]))), [4, 3, R, R]);
    const direct = tokenizer.encode(x, SeededDraws.fromSeed(11));
    expect(tokens.kind).to.equal('continuous');
    if (tokens.kind === 'continuous' && direct.kind === 'continuous') {
      expect(tokens.latent.shape).to.deep.equal([4, 4, 4, 4]);
      expect(maxDiff(await read(engine, tokens.latent), await read(engine, direct.latent))).to.be.below(1e-5);
      engine.dispose([tokens.latent, direct.latent, x]);
    }
  });

  it('keys the cache by weights, data and flip; a stale cache is rebuilt and refused by key', async () => {
    const file = path.join(tempDir('cache-key'), 'c.safetensors');
    const key = await latentCacheKey(tokenizer, data, true);
    expect(await latentCacheKey(tokenizer, data, false)).to.not.equal(key);
    expect(await latentCacheKey(tokenizer, randomImages(10, 4), true)).to.not.equal(key);
    const other = buildTiny(engine, tinyConfig('masked'), 6);
    try {
      const otherKey = await latentCacheKey(other.tokenizer, data, true);
      expect(otherKey).to.not.equal(key);
      await buildLatentCache(tokenizer, data, { file, engine });
      expect(() => CachedLatentDataset.open(file, otherKey)).to.throw().with.property('code', 'CHECKPOINT_MISMATCH');
      const rebuilt = await buildLatentCache(other.tokenizer, data, { file, engine });
      expect(rebuilt).to.include({ complete: true, builtChunks: 1, key: otherKey });
      expect(CachedLatentDataset.open(file, otherKey).key).to.equal(otherKey);
    } finally {
      disposeGenerator(other);
    }
  });

  it('caches what `encode` returns for a tokenizer without its own cache codec', async () => {
    const config = tinyConfig('masked') as { tokenizer: { options: Record<string, unknown> } };
    config.tokenizer.options.sampleLatents = false;
    const g = buildTiny(engine, config as Record<string, unknown>, 5);
    try {
      const plain: Tokenizer = { id: 'test/plain', space: g.tokenizer.space, resolution: g.tokenizer.resolution, module: g.tokenizer.module, encode: (x) => g.tokenizer.encode(x), decode: (t) => g.tokenizer.decode(t) };
      const file = path.join(tempDir('cache-plain'), 'c.safetensors');
      await buildLatentCache(plain, data, { file, engine, flip: false });
      const cache = CachedLatentDataset.open(file);
      expect(cache.names).to.deep.equal(['latent']);
      const x = engine.tensor(data.images[0], [1, 3, R, R]);
      const direct = g.tokenizer.encode(x);
      const tokens = cachedTokens(engine, plain, cache.batch(Int32Array.of(0)).stored);
      if (direct.kind === 'continuous' && tokens.kind === 'continuous') {
        expect(maxDiff(await read(engine, tokens.latent), await read(engine, direct.latent))).to.be.below(1e-5);
        engine.dispose([tokens.latent, direct.latent]);
      } else expect.fail('continuous tokens expected');
      engine.dispose(x);
    } finally {
      disposeGenerator(g);
    }
  });
});
