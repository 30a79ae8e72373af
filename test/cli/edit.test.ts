import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { CLI, REPO } from '../paths';

function tessera(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO, encoding: 'utf8', timeout: 120000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const pns = [1, 2, 4];
const msvq = { use: 'msvq', options: { vocabSize: 16, zChannels: 8, ch: 32, chMult: [1, 1], numResBlocks: 1, patchNums: pns, resolution: 8 } };
const tinyVar = {
  name: 'tiny-var',
  tokenizer: msvq,
  direction: { use: 'scale' },
  head: { use: 'categorical', options: { width: 32, vocab: 16 } },
  backbone: { use: 'adaln', options: { depth: 1, embedDim: 32, numHeads: 2, classes: 10, patchNums: pns, vocabEmbedDim: 8 } },
  sampling: { cfg: 3, topK: 8 },
};

/** A white box on black (in-painting mask) of side `s`, the box covering [lo, hi) in both axes. */
async function boxMask(file: string, s: number, lo: number, hi: number, invert = false): Promise<void> {
  const px = Buffer.alloc(s * s * 3, invert ? 255 : 0);
  for (let y = lo; y < hi; y++) for (let x = lo; x < hi; x++) px.fill(invert ? 0 : 255, (y * s + x) * 3, (y * s + x) * 3 + 3);
  await sharp(px, { raw: { width: s, height: s, channels: 3 } }).png().toFile(file);
}

describe('cli: tessera edit', () => {
  let tmp: string;
  let config: string;
  let image: string;
  before(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'tessera-edit-'));
    config = path.join(tmp, 'tiny-var.json');
    writeFileSync(config, JSON.stringify(tinyVar));
    image = path.join(tmp, 'in.jpg');
    await sharp({ create: { width: 23, height: 17, channels: 3, background: { r: 180, g: 60, b: 20 } } }).jpeg().toFile(image);
  });

  it('in-paints the white box of the mask and out-paints around a black one', async () => {
    // 16-pixel masks (resized to the 8-pixel tokenizer); the last scale is 4x4 tokens of 2x2 pixels
    const cases: [string, boolean, number][] = [['inpaint', false, 4], ['outpaint', true, 12]];
    for (const [name, invert, regenerated] of cases) {
      const mask = path.join(tmp, `${name}-mask.png`);
      await boxMask(mask, 16, 4, 12, invert);
      const out = path.join(tmp, `${name}.png`);
      const r = tessera(['edit', '--config', config, '--random-weights', '--image', image, '--mask', mask, '--class', '3', '--out', out]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain(`${regenerated} of 16 last-scale tokens regenerated (class 3)`);
      expect(r.stderr).to.contain('23x17 resized and center-cropped to 8x8');
      expect(r.stderr.match(/^editing \d\/3 /gm)).to.have.length(3);
      const meta = await sharp(out).metadata();
      expect([meta.width, meta.height]).to.deep.equal([8, 8]);
      const record = JSON.parse(readFileSync(path.join(tmp, `${name}.config.json`), 'utf8'));
      expect(record.run).to.include({ command: 'edit', label: 3, regeneratedTokens: regenerated });
    }
  });

  it('refuses a generator without next-scale sampling and a non-image in one line with exit 2', async () => {
    const mask = path.join(tmp, 'm.png');
    await boxMask(mask, 8, 2, 6);
    const mar = path.join(tmp, 'tiny-mar.json');
    writeFileSync(mar, JSON.stringify({
      name: 'tiny-mar',
      tokenizer: { use: 'vae', options: { embedDim: 4, baseChannels: 32, channelMultipliers: [1, 1], resBlocksPerLevel: 1, encoderAttentionResolutions: [], resolution: 8 } },
      direction: { use: 'masked', options: { numIterations: 2 } },
      head: { use: 'diffusion', options: { tokenDim: 4, zChannels: 16, width: 16, depth: 1, numSamplingSteps: '2' } },
      backbone: { use: 'mae', options: { imgSize: 8, vaeStride: 2, vaeEmbedDim: 4, encoderEmbedDim: 16, encoderDepth: 1, encoderNumHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2, classNum: 10, bufferSize: 1 } },
    }));
    const text = path.join(tmp, 'notes.png');
    writeFileSync(text, 'not an image');
    const cases: [string[], RegExp][] = [
      [['--config', mar, '--image', image, '--mask', mask], /^PLUGIN_INCOMPATIBLE: .*direction `scale`/],
      [['--config', config, '--image', text, '--mask', mask], /^IMAGE_INVALID: .*notes\.png/],
    ];
    for (const [args, pattern] of cases) {
      const r = tessera(['edit', '--random-weights', '--out', path.join(tmp, 'x.png'), ...args]);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
      expect(r.stderr).to.match(pattern);
    }
  });
});
