/**
 * Text-conditioned sampling (HART): context files with the official tensor names
 * (`context`, `context_mask`, `context_position_ids`), their validation, and the Sampler
 * giving each batch its rows of the context; a tiny text-conditioned HART generator
 * (hybrid msvq + scale + categorical with a residual diffusion head + adaln `hart`)
 * samples end to end.
 */
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Engine, Generator, hostContext, readContextFile, Rng, Sampler, TfjsEngine, tokenTensors, writeSafetensorsFile } from '@tessera/core';
import type { HostTensor, Tokens } from '@tessera/core';
import { expectCode } from '../../helpers';
import { buildTiny, disposeGenerator } from './tiny-generators';
import { tinyHart, tinyTextHart } from '../../direction-scale/tiny';

const T = 4;
const D = 6;

function features(n: number, seed: number, dtype: 'float32' | 'float16' = 'float32'): HostTensor {
  const rng = new Rng(seed);
  const values = Float32Array.from({ length: n * T * D }, () => rng.normal());
  if (dtype === 'float32') return { dtype, shape: [n, T, D], data: values };
  // float16 bits of values rounded to multiples of 1/8 (exact in half precision).
  const half = new Uint16Array(values.length);
  values.forEach((v, i) => {
    const q = Math.round(v * 8) / 8;
    const buf = new DataView(new ArrayBuffer(4));
    buf.setFloat32(0, q);
    const b = buf.getUint32(0);
    const exp = ((b >>> 23) & 0xff) - 127 + 15;
    half[i] = q === 0 ? 0 : ((b >>> 16) & 0x8000) | (exp << 10) | ((b >>> 13) & 0x3ff);
  });
  return { dtype, shape: [n, T, D], data: half };
}

function indicesOf(F: Engine, t: Tokens): number[][] {
  return t.kind === 'discrete' ? t.indices.map((x) => Array.from(F.readSync(x))) : [];
}

describe('core/sampler: context (text-conditioned HART)', () => {
  let F: Engine;
  let g: Generator;
  let dir: string;
  before(async () => {
    F = await TfjsEngine.create();
    g = buildTiny(F, tinyTextHart(), 2);
    dir = mkdtempSync(path.join(tmpdir(), 'tessera-context-'));
  });
  after(() => disposeGenerator(g));

  it('reads a context file: float16 features widened, bool mask, position ids cumsum(mask) − 1 when absent', () => {
    const file = path.join(dir, 'ctx.safetensors');
    const mask = Uint8Array.of(1, 1, 0, 0, 1, 1, 1, 1);
    writeSafetensorsFile(file, new Map<string, HostTensor>([['context', features(2, 1, 'float16')], ['context_mask', { dtype: 'bool', shape: [2, T], data: mask }]]));
    const ctx = readContextFile(file);
    expect(ctx.shape).to.deep.equal([2, T, D]);
    expect(Array.from(ctx.positions)).to.deep.equal([0, 1, 1, 1, 0, 1, 2, 3]);
    expect(Array.from(ctx.mask)).to.deep.equal(Array.from(mask));
    const rng = new Rng(1);
    expect(ctx.features[5]).to.equal(Array.from({ length: 6 }, () => Math.round(rng.normal() * 8) / 8)[5]);
  });

  it('refuses a bad context file with the file, the tensor and the expectation', () => {
    const write = (name: string, tensors: [string, HostTensor][]): string => {
      const file = path.join(dir, name);
      writeSafetensorsFile(file, new Map(tensors));
      return file;
    };
    const none = write('none.safetensors', [['prompt', features(1, 2)]]);
    expect(expectCode(() => readContextFile(none), 'CONFIG_INVALID').message).to.include(none).and.include('`context`').and.include('`prompt`');
    const flat = write('flat.safetensors', [['context', { dtype: 'float32', shape: [T, D], data: new Float32Array(T * D) }]]);
    expect(expectCode(() => readContextFile(flat), 'CONFIG_INVALID').message).to.match(/`context` has shape \[4, 6\]; expected \[N, T, D\]/);
    const badMask = write('mask.safetensors', [['context', features(2, 3)], ['context_mask', { dtype: 'float32', shape: [2, T + 1], data: new Float32Array(2 * (T + 1)) }]]);
    expect(expectCode(() => readContextFile(badMask), 'CONFIG_INVALID').message).to.include('`context_mask` has shape [2, 5]; expected [2, 4]');
    const floatIds = write('ids.safetensors', [['context', features(1, 4)], ['context_position_ids', { dtype: 'float32', shape: [1, T], data: new Float32Array(T) }]]);
    expect(expectCode(() => readContextFile(floatIds), 'CONFIG_INVALID').message).to.include('`context_position_ids` has dtype float32; expected an integer type');
  });

  it('samples one image per context row, batch by batch, the same tokens for the same seed and rows', () => {
    const before = F.liveTensors();
    const context = hostContext(features(3, 5));
    const sampler = new Sampler(g);
    const run = (batchSize: number, rows = context): { images: number[]; tokens: number[][] } => {
      const { images, tokens } = sampler.sample({ labels: [0, 0, null], context: rows, settings: { cfg: 3, smooth: true }, seed: 9, batchSize });
      const out = { images: Array.from(F.readSync(images)), tokens: indicesOf(F, tokens) };
      F.dispose([images, ...tokenTensors(tokens)]);
      return out;
    };
    const once = run(3);
    expect(once.images.length).to.equal(3 * 3 * 8 * 8);
    expect(run(3)).to.deep.equal(once);
    // Other context rows give other samples under the same draws (random weights give near-flat
    // logits, so the token ids may agree; the smoothed maps and the residual do not).
    const other = run(3, hostContext(features(3, 6))).images;
    expect(Math.max(...other.map((v, i) => Math.abs(v - once.images[i])))).to.be.above(1e-4);
    expect(run(1).images.length).to.equal(once.images.length);
    expect(F.liveTensors()).to.equal(before);
  });

  it('refuses a missing context, rows that do not match the images or the model, and a context for a class-conditioned model', () => {
    const sampler = new Sampler(g);
    expect(expectCode(() => sampler.sample({ labels: [0] }), 'USAGE').message).to.match(/text-conditioned.*--context/);
    expect(expectCode(() => sampler.sample({ labels: [0, 0], context: hostContext(features(1, 1)) }), 'USAGE').message).to.include('1 context rows for 2 images');
    const wide: HostTensor = { dtype: 'float32', shape: [1, T, D + 1], data: new Float32Array(T * (D + 1)) };
    expect(expectCode(() => sampler.sample({ labels: [0], context: hostContext(wide, undefined, undefined, 'wide.safetensors') }), 'CONFIG_INVALID').message)
      .to.include('wide.safetensors').and.include('[N, 4, 6]');
    const classHart = buildTiny(F, tinyHart(), 2);
    expect(expectCode(() => new Sampler(classHart).sample({ labels: [0], context: hostContext(features(1, 1)) }), 'USAGE').message).to.include('not conditioned on a context');
    disposeGenerator(classHart);
  });
});
