/**
 * `tessera train` end to end on a tiny IDX dataset written by the test: tokenizer
 * training, generator training from that run folder, the run folder's files, bad usage,
 * and a real SIGKILL of a training process followed by `--resume`, whose metrics must
 * equal an uninterrupted run's step for step.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { listCheckpoints, resolveRunDir } from '@tessera/core';
import { tinyVar } from '../direction-scale/tiny';
import { CLI, REPO } from '../paths';

function tessera(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO, encoding: 'utf8', timeout: 120000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** 24 grayscale 8x8 pictures in MNIST's IDX format (uncompressed), labels 0..9. */
function writeIdx(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const n = 24, side = 8;
  const header = (magic: number, dims: number[]): Buffer => {
    const b = Buffer.alloc(4 + 4 * dims.length);
    b.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
    return b;
  };
  const pixels = Buffer.from(Array.from({ length: n * side * side }, (_, i) => Math.round(127.5 + 127.5 * Math.sin(i * 0.7 + Math.floor(i / 64)))));
  writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), Buffer.concat([header(0x803, [n, side, side]), pixels]));
  writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), Buffer.concat([header(0x801, [n]), Buffer.from(Array.from({ length: n }, (_, i) => i % 10))]));
}

const metrics = (dir: string): { step: number; loss: number; lr: number; imagesPerSecond: number; seconds: number }[] =>
  readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('cli/train', () => {
  let tmp: string, data: string, config: string, tokenizerRun: string;
  before(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'tessera-train-'));
    data = path.join(tmp, 'data');
    writeIdx(data);
    config = path.join(tmp, 'tiny-var.json');
    const training = { batchSize: 4, steps: 12, baseLearningRate: 1, warmupFraction: 0, checkpointEvery: 1, keepCheckpoints: 2, sampleEvery: 1000, sampleImages: 4, preprocess: 'resize' };
    writeFileSync(config, JSON.stringify({ ...tinyVar(), training }));
    tokenizerRun = path.join(tmp, 'tok');
  });

  it('trains a tokenizer into a run folder', () => {
    const r = tessera(['train', '--config', config, '--data', data, '--target', 'tokenizer', '--steps', '2', '--out', tokenizerRun]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/tiny-var \(tokenizer\): steps 1\.\.2, loss [\d.]+ → [\d.]+/);
    expect(metrics(tokenizerRun).map((m) => m.step)).to.deep.equal([1, 2]);
    for (const f of ['config.json', 'config.resolved.json', 'tokenizer.safetensors', 'samples/step-0000002.png']) expect(existsSync(path.join(tokenizerRun, f)), f).to.equal(true);
    const resolved = JSON.parse(readFileSync(path.join(tokenizerRun, 'config.resolved.json'), 'utf8'));
    expect(resolved.training).to.include({ target: 'tokenizer', preset: 'tokenizer', steps: 2 });
    expect(resolved.training.defaulted).to.include('tokenizer.betas');
    expect(resolved.tokenizer.defaulted).to.be.an('array');
    expect(resolveRunDir(tokenizerRun).weights).to.equal(undefined);
  });

  it('trains the tokenizer first when no tokenizer weights are given, and refuses a second run into a used folder', () => {
    const out = path.join(tmp, 'no-tok');
    const r = tessera(['train', '--config', config, '--data', data, '--steps', '1', '--tokenizer-steps', '1', '--out', out]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('training the tokenizer first');
    expect(existsSync(path.join(out, 'tokenizer', 'tokenizer.safetensors'))).to.equal(true);
    expect(existsSync(path.join(out, 'model.safetensors'))).to.equal(true);
    expect(JSON.parse(readFileSync(path.join(out, 'config.resolved.json'), 'utf8')).run.weights).to.contain(path.join(out, 'tokenizer'));
    const again = tessera(['train', '--config', config, '--data', data, '--target', 'tokenizer', '--steps', '1', '--out', tokenizerRun]);
    expect(again.code).to.equal(2);
    expect(again.stderr).to.match(/^USAGE: .*--resume/);
  });

  it('resumes after a SIGKILL with the same losses, step for step, as an uninterrupted run', async function () {
    this.timeout(120000);
    const straight = path.join(tmp, 'straight'), killed = path.join(tmp, 'killed');
    const common = ['train', '--config', config, '--data', data, '--tokenizer-weights', tokenizerRun];
    const full = tessera([...common, '--out', straight]);
    expect(full.code, full.stderr).to.equal(0);
    expect(existsSync(path.join(straight, 'model.safetensors'))).to.equal(true);
    const child = spawn(process.execPath, [CLI, ...common, '--out', killed], { cwd: REPO, stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const poll = setInterval(() => {
        const lines = existsSync(path.join(killed, 'metrics.jsonl')) ? metrics(killed).length : 0;
        if (lines >= 4) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve();
        }
      }, 10);
      child.on('exit', () => { clearInterval(poll); reject(new Error('training ended before it could be killed')); });
    });
    await exited;
    const before = metrics(killed).length;
    expect(before).to.be.lessThan(12);
    expect(listCheckpoints(killed).length).to.be.greaterThan(0);
    const resumed = tessera([...common, '--out', killed, '--resume']);
    expect(resumed.code, resumed.stderr).to.equal(0);
    const a = metrics(straight), b = metrics(killed);
    expect(b.map((m) => m.step)).to.deep.equal(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(b.map((m) => m.loss)).to.deep.equal(a.map((m) => m.loss));
    expect(b.map((m) => m.lr)).to.deep.equal(a.map((m) => m.lr));

    // the run folder stands in for --config, --weights and --tokenizer-weights
    const grid = path.join(tmp, 'from-run.png');
    const sampled = tessera(['sample', '--config', straight, '--class', '1', '2', '--out', grid]);
    expect(sampled.code, sampled.stderr).to.equal(0);
    expect(existsSync(grid)).to.equal(true);
  });
});
