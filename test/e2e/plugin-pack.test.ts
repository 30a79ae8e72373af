/**
 * A third-party plugin's whole round trip, offline: `tessera plugin new` scaffolds a head
 * plugin, `npm pack` packs core, the CLI and the built-in plugins it ships with, a fresh
 * project installs those tarballs from npm's cache (`--offline`), the scaffolded package
 * builds and passes its own conformance test there and is packed and installed too; then,
 * in that project, `tessera plugins --check` lists it, `tessera config validate` accepts
 * a config that names it by its short name, `tessera train` takes two steps and
 * `tessera sample` draws a grid with the trained weights. Installing takes most of the
 * ~40 s; the project's node_modules is about 700 MB.
 */
import { expect } from 'chai';
import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO } from '../paths';

/** Workspace packages the installed CLI needs (its dependencies), packed from this checkout. */
const WORKSPACES = [
  'packages/core', 'packages/tokenizer-vae', 'packages/tokenizer-msvq', 'packages/direction-raster', 'packages/direction-masked',
  'packages/direction-scale', 'packages/direction-frequency', 'packages/head-diffusion', 'packages/head-categorical', 'apps/cli',
];

/** The environment without the npm_* variables of an enclosing `npm test` (workspace flags and the like). */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 120000 });
  expect(r.status, `${cmd} ${args.join(' ')} in ${cwd}\n${r.stdout}\n${r.stderr}`).to.equal(0);
  return r;
}

const npmInstall = (cwd: string, specs: string[]) => run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', ...specs], cwd);

/** A tiny IDX dataset (the Fashion-MNIST file names): four 8x8 gray images of classes 0..3. */
function writeIdx(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const n = 4, side = 8;
  const images = Buffer.alloc(16 + n * side * side);
  [0x803, n, side, side].forEach((v, i) => images.writeUInt32BE(v, 4 * i));
  for (let i = 0; i < n * side * side; i++) images[16 + i] = (i * 37) % 256;
  const labels = Buffer.alloc(8 + n);
  [0x801, n].forEach((v, i) => labels.writeUInt32BE(v, 4 * i));
  for (let i = 0; i < n; i++) labels[8 + i] = i;
  writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), images);
  writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), labels);
}

/** A tiny MAR-like generator whose head is the third-party plugin, named by its short name. */
const CONFIG = {
  name: 'tiny-gauss',
  tokenizer: { use: 'vae', options: { embedDim: 4, baseChannels: 32, channelMultipliers: [1, 1], resBlocksPerLevel: 1, encoderAttentionResolutions: [], resolution: 8 } },
  direction: { use: 'masked', options: { numIterations: 4 } },
  head: { use: 'gauss', options: { tokenDim: 4, zChannels: 16 } },
  backbone: {
    use: 'mae',
    options: {
      imgSize: 8, vaeStride: 2, vaeEmbedDim: 4, encoderEmbedDim: 16, encoderDepth: 1, encoderNumHeads: 2,
      decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2, classNum: 10, bufferSize: 2, attnDropout: 0, projDropout: 0,
    },
  },
  sampling: { cfg: 1.5 },
  training: { preset: 'mar', steps: 2, batchSize: 2, preprocess: 'resize', checkpointEvery: 2, sampleEvery: 1000 },
};

describe('e2e: a scaffolded plugin packed, installed offline and used by the CLI', function () {
  this.timeout(240000);
  const root = mkdtempSync(path.join(tmpdir(), 'tessera-e2e-plugin-'));
  const tarballs = path.join(root, 'tarballs');
  const app = path.join(root, 'app');
  const tessera = (args: string[]) => run(process.execPath, [path.join(app, 'node_modules', '@tessera', 'cli', 'bin', 'tessera.js'), ...args], app);

  after(() => rmSync(root, { recursive: true, force: true }));

  it('installs core and the CLI from tarballs, then builds, tests, packs and installs the scaffolded plugin', () => {
    mkdirSync(tarballs);
    mkdirSync(app);
    run('npm', ['pack', '--pack-destination', tarballs, ...WORKSPACES.flatMap((w) => ['-w', w])], REPO);
    // An offline install resolves open ranges to the newest cached packument; pin the one
    // transitive package whose newest release is not in the cache to the version installed here.
    const typesNode = (JSON.parse(readFileSync(path.join(REPO, 'node_modules', '@types', 'node', 'package.json'), 'utf8')) as { version: string }).version;
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, overrides: { '@types/node': typesNode } }, null, 2));
    const rootPkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    npmInstall(app, [...readdirSync(tarballs).map((t) => path.join(tarballs, t)), `mocha@${rootPkg.devDependencies.mocha}`, `typescript@${rootPkg.devDependencies.typescript}`]);

    // Scaffolded inside the project, so `npm test` finds core, tsc and mocha in its node_modules.
    tessera(['plugin', 'new', 'head', 'gauss', '--dir', 'plugins']);
    const plugin = path.join(app, 'plugins', 'tessera-plugin-head-gauss');
    const test = run('npm', ['test'], plugin);
    expect(test.stdout).to.match(/\d+ passing/).and.not.to.match(/failing/);
    run('npm', ['pack', '--pack-destination', tarballs], plugin);
    npmInstall(app, [path.join(tarballs, 'tessera-plugin-head-gauss-0.1.0.tgz')]);
    expect(existsSync(path.join(app, 'node_modules', 'tessera-plugin-head-gauss', 'dist', 'index.js'))).to.equal(true);
  });

  it('lists and checks the installed plugin', () => {
    const listed = (JSON.parse(tessera(['plugins', '--json']).stdout) as { package: string; description?: string }[]).find((p) => p.package === 'tessera-plugin-head-gauss');
    expect(listed, 'listed from its package.json').to.not.equal(undefined);
    expect(listed?.description, 'not imported without --check').to.equal(undefined);
    const checked = (JSON.parse(tessera(['plugins', '--check', '--json']).stdout) as { package: string; apiVersion?: number; error?: string }[]).find((p) => p.package === 'tessera-plugin-head-gauss');
    expect(checked?.error).to.equal(undefined);
    expect(checked?.apiVersion).to.equal(1);
  });

  it('validates, trains two steps and samples with a config that uses it', () => {
    writeFileSync(path.join(app, 'tiny.json'), JSON.stringify(CONFIG, null, 2));
    writeIdx(path.join(app, 'data'));
    expect(tessera(['config', 'validate', 'tiny.json']).stdout).to.contain('head/gauss from tessera-plugin-head-gauss');
    tessera(['train', '--config', 'tiny.json', '--data', 'data', '--steps', '2', '--batch', '2', '--out', 'run', '--random-tokenizer']);
    const metrics = readFileSync(path.join(app, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss?: number });
    expect(metrics.some((m) => Number.isFinite(m.loss))).to.equal(true);
    tessera(['sample', '--config', path.join('run', 'config.json'), '--weights', path.join('run', 'model.safetensors'), '--tokenizer-weights', path.join('run', 'tokenizer.safetensors'), '--class', '1', '3', '--out', 'grid.png']);
    expect(readFileSync(path.join(app, 'grid.png')).subarray(1, 4).toString()).to.equal('PNG');
  });
});
