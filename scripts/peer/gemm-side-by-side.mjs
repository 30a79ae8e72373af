#!/usr/bin/env node
// fp32 GEMM kernels side by side: the peer's (torch on Debian's OpenBLAS, gemm_torch.py)
// against Tessera's onnx engine (onnxruntime's CPU provider, MLAS), on the GEMM shapes that
// carry the VAR-d16, FAR-B and MAR-B sampling time. A developer script (README.md next to
// it), not part of CI or the tests.
//
//   node scripts/peer/gemm-side-by-side.mjs [--rounds 4] [--depth 4] [--reps 6] [--json]
//
// Each shape is timed as a chain of 2·depth GEMMs, [M, K] x [K, N] then [M, N] x [N, K]
// with distinct random weights, the same on both sides. Tessera runs the chain as one traced
// graph twice: weights as initializers (`embed`, pre-packed by onnxruntime) and as inputs
// (`feed`, as the VAR step graphs take them). Rounds alternate which side goes first; every
// figure is the median of all rounds' timed runs.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { failer, load1, median, parseOptions, tableLines } from './common.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const USAGE = `usage: node scripts/peer/gemm-side-by-side.mjs [options]

  --rounds <n>     rounds, each one torch run and one Tessera run of every shape (default 4)
  --depth <n>      GEMM pairs per chain (default 4)
  --reps <n>       timed chain runs per shape and round, after a warm-up (default 6)
  --threads <n>    threads of both (default 2)
  --python <path>  Python interpreter with torch (default /usr/bin/python3)
  --json           print JSON instead of a table
  -h, --help       this text`;

// [M, K, N] and where the shape occurs (per image, batch 1, CFG rows included).
const SHAPES = [
  { mkn: [512, 1024, 4096], where: 'VAR-d16 last scale: fc1 / fc2 (256 tokens x 2 rows)' },
  { mkn: [512, 1024, 3072], where: 'VAR-d16 last scale: qkv; FAR-B head: AdaLN modulation (512 rows)' },
  { mkn: [200, 1024, 4096], where: 'VAR-d16 scale 10x10: fc1 / fc2' },
  { mkn: [512, 1024, 1024], where: 'FAR-B head: MLP; VAR-d16: attention proj' },
  { mkn: [640, 768, 3072], where: 'MAR-B decoder: fc1 / fc2 (320 tokens x 2 rows)' },
  { mkn: [1024, 1024, 1024], where: 'PEER_BENCH.md: torch matmul 1024^3' },
];

const fail = failer('gemm-side-by-side');
const opts = parseOptions({
  rounds: { type: 'string', default: '4' },
  depth: { type: 'string', default: '4' },
  reps: { type: 'string', default: '6' },
  threads: { type: 'string', default: '2' },
  python: { type: 'string', default: '/usr/bin/python3' },
  json: { type: 'boolean', default: false },
}, USAGE, fail);
const positive = (name) => {
  const v = Number(opts[name]);
  if (!Number.isInteger(v) || v < 1) fail(`--${name} must be a positive integer, got ${opts[name]}`);
  return v;
};
const rounds = positive('rounds'), depth = positive('depth'), reps = positive('reps'), threads = positive('threads');
const coreEntry = join(ROOT, 'packages', 'core', 'dist', 'index.js');
if (!existsSync(coreEntry)) fail('packages/core/dist is missing: run `npm run build` at the repository root first');
const core = createRequire(import.meta.url)(coreEntry);

function runTorch() {
  const args = [join(ROOT, 'scripts', 'peer', 'gemm_torch.py'), '--shapes', SHAPES.map((s) => s.mkn.join('x')).join(','),
    '--depth', String(depth), '--reps', String(reps), '--threads', String(threads)];
  const r = spawnSync(opts.python, args, { env: { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.error) fail(`torch could not start: ${r.error.message}`);
  if (r.status !== 0) fail(`gemm_torch.py exited with ${r.status ?? r.signal}`);
  const line = r.stdout.trim().split('\n').pop();
  try {
    return JSON.parse(line);
  } catch {
    fail(`gemm_torch.py printed no JSON: ${r.stdout.slice(-500)}`);
  }
}

const F = await core.OnnxEngine.create({ device: 'cpu', threads });
const rng = new core.Rng(0);
const rand = (n) => Float32Array.from({ length: n }, () => rng.uniform() - 0.5);
const tessera = SHAPES.map(({ mkn: [M, K, N] }) => {
  const ws = Array.from({ length: depth }, () => [F.tensor(rand(K * N), [K, N]), F.tensor(rand(N * K), [N, K])]);
  const chain = (x, pairs) => pairs.reduce((y, [a, b]) => F.matmul(F.matmul(y, a), b), x);
  const flat = ws.flat();
  return {
    x: F.tensor(rand(M * K), [M, K]),
    flat,
    embed: F.compile((x) => chain(x, ws), { name: 'gemm_embed', weights: 'embed' }),
    feed: F.compile((x, ...w) => chain(x, Array.from({ length: depth }, (_, i) => [w[2 * i], w[2 * i + 1]])), { name: 'gemm_feed', weights: 'feed' }),
    flops: 4 * M * K * N * depth,
  };
});

function runTessera() {
  return tessera.map((t) => {
    const out = {};
    for (const mode of ['embed', 'feed']) {
      const call = () => (mode === 'embed' ? t.embed(t.x) : t.feed(t.x, ...t.flat));
      F.dispose(call());
      out[mode] = Array.from({ length: reps }, () => {
        const t0 = performance.now();
        F.dispose(call());
        return t.flops / ((performance.now() - t0) / 1000) / 1e9;
      });
    }
    return out;
  });
}

const samples = SHAPES.map(() => ({ torch: [], embed: [], feed: [] }));
const loads = [];
let torchVersion;
for (let round = 1; round <= rounds; round++) {
  const torchFirst = round % 2 === 1;
  loads.push(load1());
  const sides = torchFirst ? ['torch', 'tessera'] : ['tessera', 'torch'];
  for (const side of sides) {
    if (side === 'torch') {
      const r = runTorch();
      torchVersion = r.torch;
      r.results.forEach((x, i) => samples[i].torch.push(...x.gflops));
    } else {
      runTessera().forEach((x, i) => {
        samples[i].embed.push(...x.embed);
        samples[i].feed.push(...x.feed);
      });
    }
  }
  process.stderr.write(`[gemm-side-by-side] round ${round}/${rounds} done (load1 ${load1()})\n`);
}

const results = SHAPES.map((s, i) => {
  const torch = median(samples[i].torch), embed = median(samples[i].embed), feed = median(samples[i].feed);
  return { shape: s.mkn, where: s.where, gflops: { torch, tesseraEmbed: embed, tesseraFeed: feed }, tesseraOverTorch: { embed: embed / torch, feed: feed / torch }, samples: samples[i] };
});
const header = {
  what: `fp32 GEMM chains (${2 * depth} GEMMs each), median GFLOP/s of ${rounds} rounds x ${reps} runs, ${threads} threads`,
  torch: `torch ${torchVersion} (OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY ?? 'PASSIVE'})`,
  tessera: `onnx engine (${F.info.backend}), weights embedded (pre-packed) and fed`,
  load1: loads,
};
if (opts.json) {
  process.stdout.write(`${JSON.stringify({ ...header, results }, null, 2)}\n`);
} else {
  const rows = [['M x K x N', 'torch', 'Tessera embed', 'Tessera feed', 'embed / torch', 'feed / torch', 'where']];
  for (const r of results) {
    rows.push([r.shape.join(' x '), r.gflops.torch.toFixed(0), r.gflops.tesseraEmbed.toFixed(0), r.gflops.tesseraFeed.toFixed(0),
      r.tesseraOverTorch.embed.toFixed(2), r.tesseraOverTorch.feed.toFixed(2), r.where]);
  }
  process.stdout.write([header.what, `peer:    ${header.torch}`, `Tessera: ${header.tessera}`, `load1 before each round: ${loads.join(', ')}`, '', ...tableLines(rows)].join('\n') + '\n');
}
F.dispose(tessera.flatMap((t) => [t.x, ...t.flat]));
