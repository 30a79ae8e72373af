/** Tiny datasets written to temporary folders: IDX files (plain and gzipped) and image folders. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { encodeIdx, hostTensor, Rng } from '@tessera/core';

const made: string[] = [];

/** A fresh temporary folder, removed by `removeTempDirs`. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `tessera-${prefix}-`));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** `n` random 28x28 ubyte images and labels 0..9 as `<split>-images-idx3-ubyte[.gz]` files in `dir`. */
export function writeIdxPair(dir: string, n: number, options: { split?: 'train' | 't10k'; gzip?: boolean; seed?: number; side?: number } = {}): { pixels: Uint8Array; labels: Uint8Array } {
  const { split = 'train', gzip = false, seed = 1, side = 28 } = options;
  const rng = new Rng(seed);
  const pixels = Uint8Array.from({ length: n * side * side }, () => rng.integer(0, 256));
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
  const ext = gzip ? '.gz' : '';
  const put = (name: string, bytes: Uint8Array): void => writeFileSync(path.join(dir, name + ext), gzip ? gzipSync(bytes) : bytes);
  put(`${split}-images-idx3-ubyte`, encodeIdx(hostTensor('uint8', [n, side, side], pixels)));
  put(`${split}-labels-idx1-ubyte`, encodeIdx(hostTensor('uint8', [n], labels)));
  return { pixels, labels };
}

/** A PNG of random RGB pixels. */
export async function writePng(file: string, width: number, height: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const raw = Buffer.from(Uint8Array.from({ length: width * height * 3 }, () => rng.integer(0, 256)));
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, await sharp(raw, { raw: { width, height, channels: 3 } }).png().toBuffer());
}
