/**
 * `tessera reconstruct`: encode and decode images with a tokenizer alone (a
 * tokenizer-only config such as configs/tokenizers/var-vqvae.json, or the tokenizer of
 * a generator config) and report the PSNR of each reconstruction. Images of any size are
 * resized and center-cropped to the tokenizer's resolution (with a note), grayscale and
 * alpha images become RGB; every input is decoded before any work starts, so a file that
 * is not an image stops the run with one IMAGE_INVALID line naming it.
 *
 * PSNR is computed on the 8-bit values that are written: 10·log10(255² / MSE) over the
 * three channels of the resized input and the PNG.
 */
import * as path from 'node:path';
import { chwToHwc, loadImage, Rng, saveImage, SeededDraws, TesseraError, writeFileAtomic } from '@tessera/core';
import type { LoadedImage, PluginHost } from '@tessera/core';
import { buildTokenizer, createEngine, loadTokenizerWeights, nonNegativeInt } from '../generator';

export interface ReconstructFlags {
  config: string;
  weights?: string;
  key?: string;
  randomWeights?: boolean;
  seed?: string;
  engine?: string;
  device?: string;
  out: string;
}

/** PSNR in dB of two 8-bit buffers (Infinity when identical). */
export function psnr8(a: Uint8Array, b: Uint8Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  const mse = se / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

/** Output names: `<stem>.png` in `dir`, numbered when two inputs share a stem. */
export function outputNames(files: string[], dir: string): string[] {
  const seen = new Map<string, number>();
  return files.map((f) => {
    const stem = path.basename(f, path.extname(f));
    const n = seen.get(stem) ?? 0;
    seen.set(stem, n + 1);
    return path.join(dir, `${n === 0 ? stem : `${stem}-${n}`}.png`);
  });
}

export async function reconstructCommand(host: PluginHost, files: string[], flags: ReconstructFlags, write: (s: string) => void): Promise<void> {
  if (files.length === 0) throw new TesseraError('USAGE', 'give at least one image to reconstruct');
  const seed = nonNegativeInt('--seed', flags.seed, 0);
  const engine = await createEngine(flags.engine, flags.device);
  const F = engine;
  const { config, slot, tokenizer } = buildTokenizer(host, flags.config, engine, seed);
  try {
    const [H, W] = tokenizer.resolution;
    if (H !== W) throw new TesseraError('CONFIG_INVALID', `\`${flags.config}\`: reconstruct needs a square tokenizer resolution, got ${H}x${W}`);
    const images: LoadedImage[] = [];
    for (const f of files) images.push(await loadImage(f, { size: H }));
    const note = config.weights?.tokenizer;
    if (flags.weights) {
      loadTokenizerWeights(tokenizer, flags.weights, flags.key, note);
      process.stderr.write(`tokenizer weights: ${flags.weights}\n`);
    } else if (flags.randomWeights) {
      tokenizer.module.initialize(new Rng(seed));
      process.stderr.write(`random tokenizer weights (seed ${seed})\n`);
    } else {
      throw new TesseraError('USAGE', `\`${flags.config}\` needs tokenizer weights: --weights ${note ? `\`${note.file}\`` : '<file>'}; or pass --random-weights (seeded by --seed)`);
    }
    const outs = outputNames(files, flags.out);
    const draws = SeededDraws.fromSeed(seed);
    const rows: { input: string; output: string; psnr: number; note?: string }[] = [];
    for (const [i, img] of images.entries()) {
      const recon_13HW = F.tidy(() => {
        const x_13HW = F.tensor(img.data, [1, 3, H, W]);
        return F.clip(tokenizer.decode(tokenizer.encode(x_13HW, draws)), -1, 1);
      });
      const recon = Float32Array.from(await F.read(recon_13HW));
      F.dispose(recon_13HW);
      await saveImage(outs[i], recon, W, H);
      rows.push({ input: files[i], output: outs[i], psnr: psnr8(chwToHwc(img.data, W, H), chwToHwc(recon, W, H)), note: img.note });
    }
    for (const r of rows) {
      write(`${r.input} -> ${r.output}  PSNR ${Number.isFinite(r.psnr) ? r.psnr.toFixed(2) : 'inf'} dB${r.note ? `  (${r.note})` : ''}`);
    }
    const record = {
      name: config.name, tokenizer: { use: config.tokenizer.use, package: slot.packageName, options: slot.options, defaulted: slot.defaulted },
      run: { command: 'reconstruct', seed, engine: flags.engine, weights: flags.weights ?? null, randomWeights: !flags.weights },
      results: rows.map((r) => ({ ...r, psnr: Number.isFinite(r.psnr) ? r.psnr : null })),
    };
    writeFileAtomic(path.join(flags.out, 'reconstruct.config.json'), `${JSON.stringify(record, null, 2)}\n`);
  } finally {
    tokenizer.module.dispose();
  }
}
