/**
 * The pictures a training run writes as it goes: for a generator, a grid sampled with
 * the generic `Sampler` from the current weights (the EMA weights when EMA is on, as
 * MAR/FAR evaluate), classes in turn and a fixed seed so grids of successive steps are
 * comparable; for a tokenizer, originals above their reconstructions.
 */
import type { Tensor } from '../engine/ops';
import { saveImageGrid } from '../image/grid';
import { SeededDraws } from '../rng/draws';
import { Sampler, type SamplerSettingsInput } from '../sampler/sampler';
import type { Trainer } from './trainer';
import { disposeTokens } from './trainer';

function splitImages(data: Float32Array, count: number): Float32Array[] {
  const size = data.length / count;
  return Array.from({ length: count }, (_, i) => data.slice(i * size, (i + 1) * size));
}

/** Samples `count` images (class i mod classes) and saves them as a grid. */
export async function saveSampleGrid(trainer: Trainer, file: string, options: { count: number; seed?: number; settings?: SamplerSettingsInput; classNames?: string[] }): Promise<void> {
  const g = trainer.generator;
  const F = g.engine;
  const draw = async (): Promise<void> => {
    const sampler = new Sampler(g);
    const labels = Array.from({ length: options.count }, (_, i) => i % sampler.nullClass);
    const { images, tokens } = sampler.sample({ labels, seed: options.seed ?? 0, settings: options.settings });
    try {
      const [, , H, W] = images.shape;
      const data = Float32Array.from(await F.read(images) as Float32Array);
      await saveImageGrid(file, splitImages(data, options.count), W, H, { columns: Math.min(options.count, 8), ...(options.classNames ? { labels: labels.map((l) => options.classNames?.[l] ?? String(l)) } : {}) });
    } finally {
      F.dispose(images);
      disposeTokens(F, tokens);
    }
  };
  if (trainer.ema && trainer.options.target === 'generator') await trainer.ema.withWeights(draw);
  else await draw();
}

/** Saves `images` [N, 3, H, W] (a fixed preview batch) above their reconstructions by the tokenizer. */
export async function saveReconstructionGrid(trainer: Trainer, file: string, images: Float32Array, count: number): Promise<void> {
  const tokenizer = trainer.generator.tokenizer;
  const F = trainer.generator.engine;
  const [H, W] = tokenizer.resolution;
  const draw = async (): Promise<void> => {
    const x = F.tensor(images, [count, 3, H, W]);
    let recon: Tensor | undefined;
    try {
      // a fixed stream of its own: stochastic encoders sample, and the training draws stay untouched
      const tokens = tokenizer.encode(x, SeededDraws.fromSeed(0));
      try {
        recon = F.tidy(() => F.clip(tokenizer.decode(tokens), -1, 1));
      } finally {
        disposeTokens(F, tokens);
      }
      const out = Float32Array.from(await F.read(recon) as Float32Array);
      const columns = Math.min(count, 8);
      const rows: Float32Array[] = [];
      const a = splitImages(images, count), b = splitImages(out, count);
      for (let r = 0; r < count; r += columns) rows.push(...a.slice(r, r + columns), ...b.slice(r, r + columns));
      await saveImageGrid(file, rows, W, H, { columns });
    } finally {
      F.dispose([x, ...(recon ? [recon] : [])]);
    }
  };
  if (trainer.ema && trainer.options.target === 'tokenizer') await trainer.ema.withWeights(draw);
  else await draw();
}
