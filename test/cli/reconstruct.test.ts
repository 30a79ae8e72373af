import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { CLI, FIXTURES, REPO } from '../paths';

function tessera(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO, encoding: 'utf8', timeout: 120000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Tokenizer-only configs: a KL autoencoder and a multi-scale VQ, both for 8-pixel images. */
const tokenizers = {
  vae: { name: 'tiny-vae', tokenizer: { use: 'vae', options: { embedDim: 4, baseChannels: 32, channelMultipliers: [1, 1], resBlocksPerLevel: 1, encoderAttentionResolutions: [], resolution: 8 } } },
  msvq: { name: 'tiny-msvq', tokenizer: { use: 'msvq', options: { vocabSize: 16, zChannels: 8, ch: 32, chMult: [1, 1], numResBlocks: 1, patchNums: [1, 2, 4], resolution: 8 } } },
};

describe('cli: tessera reconstruct', () => {
  let tmp: string;
  let inputs: string[];
  before(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'tessera-reconstruct-'));
    for (const [name, c] of Object.entries(tokenizers)) writeFileSync(path.join(tmp, `${name}.json`), JSON.stringify(c));
    const gradient = Buffer.alloc(21 * 13 * 3);
    for (let i = 0; i < gradient.length; i++) gradient[i] = (i * 7) % 256;
    inputs = [path.join(tmp, 'odd.png'), path.join(tmp, 'odd.jpg'), path.join(tmp, 'gray.png')];
    await sharp(gradient, { raw: { width: 21, height: 13, channels: 3 } }).png().toFile(inputs[0]);
    await sharp({ create: { width: 30, height: 17, channels: 3, background: { r: 20, g: 130, b: 90 } } }).jpeg().toFile(inputs[1]);
    await sharp(Buffer.alloc(9 * 11, 128), { raw: { width: 9, height: 11, channels: 1 } }).png().toFile(inputs[2]);
  });

  it('reconstructs a PNG and a JPEG of odd size and a grayscale image, with a PSNR per image', async () => {
    for (const name of Object.keys(tokenizers)) {
      const out = path.join(tmp, `out-${name}`);
      const r = tessera(['reconstruct', '--config', path.join(tmp, `${name}.json`), '--random-weights', ...inputs, '--out', out]);
      expect(r.code, r.stderr).to.equal(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines).to.have.length(3);
      for (const [i, note] of ['21x13', '30x17', '9x11'].entries()) {
        expect(lines[i]).to.match(/PSNR -?\d+\.\d\d dB/).and.to.contain(`${note} resized and center-cropped to 8x8`);
      }
      // `odd.png` and `odd.jpg` share a stem
      for (const file of ['odd.png', 'odd-1.png', 'gray.png']) {
        const meta = await sharp(path.join(out, file)).metadata();
        expect([meta.width, meta.height, meta.channels]).to.deep.equal([8, 8, 3]);
      }
      const record = JSON.parse(readFileSync(path.join(out, 'reconstruct.config.json'), 'utf8'));
      expect(record.tokenizer.use).to.equal(name);
      expect(record.results).to.have.length(3);
    }
  });

  it('names a non-image file in one IMAGE_INVALID line (exit 2) and writes nothing', () => {
    const text = path.join(tmp, 'readme.png');
    writeFileSync(text, 'this is text');
    const out = path.join(tmp, 'out-bad');
    const r = tessera(['reconstruct', '--config', path.join(tmp, 'msvq.json'), '--random-weights', inputs[0], text, '--out', out]);
    expect(r.code).to.equal(2);
    expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
    expect(r.stderr).to.match(/^IMAGE_INVALID: /).and.to.contain('readme.png');
    expect(existsSync(out)).to.equal(false);
  });

  it("loads the fixtures' official-format checkpoints: VAR's plain VQVAE state_dict, MAR's `{model}` through the config's weights note", () => {
    const vq = JSON.parse(readFileSync(path.join(FIXTURES, 'var', 'vqvae_encode.json'), 'utf8')).config;
    const kl = JSON.parse(readFileSync(path.join(FIXTURES, 'mar', 'vae_encode.json'), 'utf8')).config.vae;
    const side = (pns: number[], chMult: number[]): number => pns[pns.length - 1] * 2 ** (chMult.length - 1);
    const configs = {
      'var-fixture': {
        weights: path.join(FIXTURES, 'var', 'vqvae_encode.pth'),
        tokenizer: {
          use: 'msvq',
          options: {
            vocabSize: vq.vocab_size, zChannels: vq.z_channels, ch: vq.ddconfig.ch, chMult: vq.ddconfig.ch_mult, numResBlocks: vq.ddconfig.num_res_blocks,
            patchNums: vq.v_patch_nums, resolution: side(vq.v_patch_nums, vq.ddconfig.ch_mult),
          },
        },
      },
      'mar-fixture': {
        weights: path.join(FIXTURES, 'mar', 'vae_encode.pth'),
        note: { tokenizer: { file: 'vae_encode.pth', key: 'model' } },
        tokenizer: {
          use: 'vae',
          options: {
            embedDim: kl.embed_dim, baseChannels: kl.ch, channelMultipliers: kl.ch_mult, resBlocksPerLevel: kl.num_res_blocks,
            // 32-pixel images, the attention blocks where the nominal 256-pixel model has them
            encoderAttentionResolutions: kl.attn_resolutions.map((r: number) => (r * 32) / kl.resolution), resolution: 32, sampleLatents: false,
          },
        },
      },
    };
    for (const [name, c] of Object.entries(configs)) {
      const file = path.join(tmp, `${name}.json`);
      writeFileSync(file, JSON.stringify({ name, tokenizer: c.tokenizer, ...('note' in c ? { weights: c.note } : {}) }));
      const r = tessera(['reconstruct', '--config', file, '--weights', c.weights, inputs[2], '--out', path.join(tmp, `out-${name}`)]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/PSNR -?\d+\.\d\d dB/);
    }
  });

  it("needs weights or --random-weights, naming the released file of the config's tokenizer", () => {
    // a generator config serves too: its tokenizer slot and weights note
    const r = tessera(['reconstruct', '--config', path.join(REPO, 'configs', 'var-d16.json'), inputs[0], '--out', path.join(tmp, 'none')]);
    expect(r.code).to.equal(2);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/^USAGE: .*vae_ch160v4096z32\.pth/);
  });
});
