/** A PNG grid of images with optional labels under each cell (torchvision make_grid style). */
import sharp from 'sharp';
import { chwToHwc } from './io';
import { writeFileAtomic } from '../util/atomic';

export interface GridOptions {
  columns?: number;
  padding?: number;
  /** One label per image, drawn under its cell. */
  labels?: string[];
}

const escapeXml = (s: string): string => s.replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);

export async function imageGrid(images: Float32Array[], width: number, height: number, options: GridOptions = {}): Promise<Buffer> {
  const n = images.length;
  const cols = Math.min(options.columns ?? Math.ceil(Math.sqrt(n)), n);
  const rows = Math.ceil(n / cols);
  const pad = options.padding ?? 2;
  const labelH = options.labels ? Math.max(12, Math.round(height / 8)) : 0;
  const cellW = width + pad, cellH = height + labelH + pad;
  const W = cols * cellW + pad, H = rows * cellH + pad;
  const composites: sharp.OverlayOptions[] = images.map((img, i) => ({
    input: Buffer.from(chwToHwc(img, width, height)),
    raw: { width, height, channels: 3 as const },
    left: pad + (i % cols) * cellW,
    top: pad + Math.floor(i / cols) * cellH,
  }));
  if (options.labels) {
    const fontSize = Math.max(9, labelH - 3);
    const texts = options.labels.slice(0, n).map((label, i) => {
      const x = pad + (i % cols) * cellW + width / 2;
      const y = pad + Math.floor(i / cols) * cellH + height + labelH - 3;
      return `<text x="${x}" y="${y}" font-family="sans-serif" font-size="${fontSize}" fill="#ddd" text-anchor="middle">${escapeXml(label)}</text>`;
    });
    composites.push({ input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${texts.join('')}</svg>`), left: 0, top: 0 });
  }
  return sharp({ create: { width: W, height: H, channels: 3, background: { r: 24, g: 24, b: 24 } } }).composite(composites).png().toBuffer();
}

export async function saveImageGrid(file: string, images: Float32Array[], width: number, height: number, options: GridOptions = {}): Promise<void> {
  writeFileAtomic(file, await imageGrid(images, width, height, options));
}
