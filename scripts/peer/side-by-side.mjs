#!/usr/bin/env node
// Side-by-side timing of the official code and Tessera, batch 1, PEER_BENCH.md settings:
// VAR-d16 (scripts/peer/var_sample.py against `tessera bench --json --only var-d16 --quick`),
// FAR-B and MAR-B (far_sample.py / mar_sample.py against `tessera bench --json --only far-b
// --diffusion-steps N`, a warm-up and one run). A developer script (see README.md next to it),
// not part of CI or the tests.
//
//   node scripts/peer/side-by-side.mjs --repo /tmp/var-official [--rounds 2] [--precision int8] [--json]
//   node scripts/peer/side-by-side.mjs --model far-b --repo /tmp/far-official [--diffusion-steps 25] [--rounds 1]
//   node scripts/peer/side-by-side.mjs --model mar-b --repo /tmp/mar-official [--diffusion-steps 25] [--rounds 1]
//
// Each round runs both once (each does one warm-up and one measured run); the order
// alternates between rounds (peer first in odd rounds, Tessera first in even ones) so that
// a drifting background load does not always favour the same side. The 1-minute load
// average (/proc/loadavg) is read before each run. Progress of both goes to stderr.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { failer, load1, median, parseOptions, tableLines } from './common.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const USAGE = `usage: node scripts/peer/side-by-side.mjs [--model var-d16|far-b|mar-b] --repo <checkout> [options]

  --model <m>         var-d16 (default), far-b or mar-b
  --repo <dir>        checkout of the official code: github.com/FoundationVision/VAR for var-d16
                      (or env VAR_REPO), github.com/yuhuUSTC/FAR for far-b (or FAR_REPO),
                      github.com/LTH14/mar for mar-b (or MAR_REPO)
  --diffusion-steps <n>  far-b / mar-b: diffusion steps on both sides (default 25)
  --rounds <n>        rounds, each one peer run and one Tessera run (default 2)
  --precision <p>     passed to tessera bench: fp32 (default), int8 or int8-conv
  --threads <n>       threads of both (default 2)
  --python <path>     Python interpreter for the peer (default /usr/bin/python3)
  --json              print the results as JSON instead of a table
  -h, --help          this text`;

const fail = failer('side-by-side');
const opts = parseOptions({
  model: { type: 'string', default: 'var-d16' },
  repo: { type: 'string' },
  'diffusion-steps': { type: 'string' },
  rounds: { type: 'string', default: '2' },
  precision: { type: 'string' },
  threads: { type: 'string', default: '2' },
  python: { type: 'string', default: '/usr/bin/python3' },
  json: { type: 'boolean', default: false },
}, USAGE, fail);
// Per model: the peer script, the checkout it needs, and what is compared.
const MODELS = {
  'var-d16': { peer: 'var_sample.py', system: 'official VAR', repoEnv: 'VAR_REPO', marker: 'var.py', official: 'FoundationVision/VAR', diffusion: false,
    what: () => 'VAR-d16, batch 1, 256 px, cfg 1.5, top-k 900, top-p 0.96, random weights' },
  'far-b': { peer: 'far_sample.py', system: 'official FAR', repoEnv: 'FAR_REPO', marker: 'far.py', official: 'yuhuUSTC/FAR', diffusion: true,
    what: (n) => `FAR-B, batch 1, 256 px, 10 next-frequency steps (nomask), ${n} diffusion steps, cfg 3.0 linear, temperature 1.0, random weights` },
  'mar-b': { peer: 'mar_sample.py', system: 'official MAR', repoEnv: 'MAR_REPO', marker: 'mar.py', official: 'LTH14/mar', diffusion: true,
    what: (n) => `MAR-B, batch 1, 256 px, 64 iterations, ${n} diffusion steps, cfg 2.9 linear, temperature 1.0, random weights` },
};
const model = MODELS[opts.model];
if (!model) fail(`--model must be one of ${Object.keys(MODELS).join(', ')}, got ${opts.model}`);
const repo = opts.repo ?? process.env[model.repoEnv];
if (!repo) fail(`--repo is required\n${USAGE}`);
if (!existsSync(join(repo, 'models', model.marker))) fail(`${repo} does not look like a ${model.official} checkout (models/${model.marker} missing)`);
if (!model.diffusion && opts['diffusion-steps'] !== undefined) fail(`--diffusion-steps applies to far-b and mar-b, not ${opts.model}`);
const diffusionSteps = opts['diffusion-steps'] ?? '25';
if (model.diffusion && !/^[1-9][0-9]*$/.test(diffusionSteps)) fail(`--diffusion-steps must be a positive integer, got ${diffusionSteps}`);
const rounds = Number(opts.rounds);
if (!Number.isInteger(rounds) || rounds < 1) fail(`--rounds must be a positive integer, got ${opts.rounds}`);
const threads = Number(opts.threads);
if (!Number.isInteger(threads) || threads < 1) fail(`--threads must be a positive integer, got ${opts.threads}`);
if (opts.precision !== undefined && !['fp32', 'int8', 'int8-conv'].includes(opts.precision)) fail(`--precision must be fp32, int8 or int8-conv, got ${opts.precision}`);
const cli = join(ROOT, 'apps', 'cli', 'dist', 'bin.js');
if (!existsSync(cli)) fail('apps/cli/dist/bin.js is missing: run `npm run build` at the repository root first');
const peerScript = join(ROOT, 'scripts', 'peer', model.peer);

/** Runs a command (stderr shown live), returns its stdout; exits on failure. */
function run(label, cmd, args, env) {
  process.stderr.write(`\n[side-by-side] ${label}: ${[cmd, ...args].join(' ')}\n`);
  const r = spawnSync(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.error) fail(`${label} could not start: ${r.error.message}`);
  if (r.status !== 0) fail(`${label} exited with ${r.status ?? r.signal}; stdout:\n${(r.stdout ?? '').slice(-2000)}`);
  return r.stdout;
}

function parseJson(label, text, lastLine) {
  const candidates = lastLine
    ? text.split('\n').filter((l) => l.trim()).slice(-1)
    : [text, text.slice(Math.max(0, text.indexOf('\n{') + 1))];
  for (const c of candidates) {
    try {
      return JSON.parse(c);
    } catch { /* next */ }
  }
  fail(`${label}: no JSON in its output:\n${text.slice(-2000)}`);
}

function runPeer() {
  const env = { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' };
  const load = load1();
  const args = [peerScript, '--repo', resolve(repo), '--runs', '1', '--threads', String(threads)];
  if (model.diffusion) args.push('--diffusion-steps', diffusionSteps);
  const out = run(model.system, opts.python, args, env);
  const p = parseJson(model.peer, out, true);
  // var_sample.py: transformer_s is everything before the decode; far/mar_sample.py split it into
  // transformer_s (transformer and the rest) and head_s (the diffusion head's sampling).
  return {
    load1: load, secondsPerImage: p.s_per_image, beforeDecode: p.transformer_s + (p.head_s ?? 0), decode: p.decode_s,
    ...(model.diffusion ? { transformer: p.transformer_s, head: p.head_s } : {}),
    warmupSeconds: p.warmup_s, threads: p.threads, torch: p.torch, raw: p,
  };
}

// var-d16: the quick plan (a warm-up and one run). far-b / mar-b: the default plan's run with
// its diffusion steps replaced by --diffusion-steps, which also puts a warm-up before it.
const tesseraArgs = model.diffusion
  ? ['bench', '--json', '--only', opts.model, '--diffusion-steps', diffusionSteps]
  : ['bench', '--json', '--only', 'var-d16', '--quick'];

function runTessera() {
  const args = [cli, ...tesseraArgs, '--threads', String(threads)];
  if (opts.precision) args.push('--precision', opts.precision);
  const load = load1();
  const out = run('Tessera', process.execPath, args, process.env);
  const report = parseJson('tessera bench', out, false);
  const r = (report.released ?? []).find((x) => x.preset === opts.model && x.batch === 1 && (!model.diffusion || x.settings?.diffusionSteps === diffusionSteps));
  if (!r) fail(`tessera bench reported no ${opts.model} batch 1 result${model.diffusion ? ` at ${diffusionSteps} diffusion steps` : ''}`);
  if (r.onnx.warmupSeconds === undefined) fail(`tessera bench measured ${opts.model} cold (no warm-up run): the comparison needs a warm run`);
  const ph = r.onnx.phases;
  return {
    load1: load,
    precision: opts.precision ?? 'fp32',
    secondsPerImage: r.onnx.secondsPerImage,
    beforeDecode: r.onnx.secondsPerImage - ph.decoder.seconds,
    decode: ph.decoder.seconds,
    transformer: ph.transformer.seconds,
    head: ph.head.seconds,
    other: ph.other.seconds,
    warmupSeconds: r.onnx.warmupSeconds,
    matmulGflops: report.matmul?.best?.gflopsPerSecond,
  };
}

// far-b / mar-b: also the diffusion head on its own and the rest before the decode
// (the peer's transformer and rest against Tessera's transformer + other).
const ratios = (peer, tessera) => ({
  total: peer.secondsPerImage / tessera.secondsPerImage,
  beforeDecode: peer.beforeDecode / tessera.beforeDecode,
  decode: peer.decode / tessera.decode,
  ...(model.diffusion ? { head: peer.head / tessera.head, transformerAndRest: peer.transformer / (tessera.transformer + tessera.other) } : {}),
});

const results = [];
for (let i = 1; i <= rounds; i++) {
  const peerFirst = i % 2 === 1;
  let peer, tessera;
  if (peerFirst) {
    peer = runPeer();
    tessera = runTessera();
  } else {
    tessera = runTessera();
    peer = runPeer();
  }
  results.push({ round: i, order: peerFirst ? 'peer, tessera' : 'tessera, peer', peer, tessera, peerOverTessera: ratios(peer, tessera) });
}

const med = (side, key) => median(results.map((r) => r[side][key]));
const medians = {
  peer: {
    secondsPerImage: med('peer', 'secondsPerImage'), beforeDecode: med('peer', 'beforeDecode'), decode: med('peer', 'decode'),
    ...(model.diffusion ? { transformer: med('peer', 'transformer'), head: med('peer', 'head') } : {}),
  },
  tessera: {
    secondsPerImage: med('tessera', 'secondsPerImage'), beforeDecode: med('tessera', 'beforeDecode'), decode: med('tessera', 'decode'),
    transformer: med('tessera', 'transformer'), head: med('tessera', 'head'), other: med('tessera', 'other'),
  },
  peerOverTessera: {
    total: median(results.map((r) => r.peerOverTessera.total)),
    beforeDecode: median(results.map((r) => r.peerOverTessera.beforeDecode)),
    decode: median(results.map((r) => r.peerOverTessera.decode)),
    ...(model.diffusion ? {
      head: median(results.map((r) => r.peerOverTessera.head)),
      transformerAndRest: median(results.map((r) => r.peerOverTessera.transformerAndRest)),
    } : {}),
  },
};

const first = results[0];
const header = {
  model: opts.model,
  ...(model.diffusion ? { diffusionSteps: Number(diffusionSteps) } : {}),
  what: `${model.what(diffusionSteps)}; each side: one warm-up + one measured run per round`,
  peer: `${model.system} (torch ${first.peer.torch}, ${first.peer.threads} threads, OMP_WAIT_POLICY=${first.peer.raw.omp_wait_policy}${first.peer.raw.stubbed_imports?.length ? `, stand-ins: ${first.peer.raw.stubbed_imports.join(', ')}` : ''})`,
  tessera: `tessera ${tesseraArgs.slice(2).join(' ')}, onnx ${first.tessera.precision}, ${threads} threads`,
  repo: resolve(repo),
};

if (opts.json) {
  process.stdout.write(`${JSON.stringify({ ...header, rounds: results.map(({ round, order, peer: { raw, ...peer }, tessera, peerOverTessera }) => ({ round, order, peer: { ...peer, runs: raw.runs }, tessera, peerOverTessera })), medians }, null, 2)}\n`);
} else {
  const f = (x, d = 2) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '-');
  const x = (v) => (typeof v === 'number' && Number.isFinite(v) ? `${v.toFixed(2)}x` : '-');
  const ratioDetail = (q) => (model.diffusion ? `head ${x(q.head)}, transformer+other vs transformer and rest ${x(q.transformerAndRest)}` : '');
  const rows = [['round', 'system', 'load1 before', 's/img', 'before decode', 'decode', 'detail']];
  for (const r of results) {
    const p = r.peer, t = r.tessera;
    const rowPeer = [String(r.round), model.system, f(p.load1), f(p.secondsPerImage), f(p.beforeDecode), f(p.decode),
      model.diffusion ? `transformer and rest ${f(p.transformer)}, diffusion head ${f(p.head)}` : 'before decode = transformer + sampling'];
    const rowTess = [String(r.round), `Tessera ${t.precision}`, f(t.load1), f(t.secondsPerImage), f(t.beforeDecode), f(t.decode),
      `transformer ${f(t.transformer)}, head ${f(t.head)}, other ${f(t.other)}; matmul ${f(t.matmulGflops, 0)} GFLOP/s`];
    rows.push(...(r.order.startsWith('peer') ? [rowPeer, rowTess] : [rowTess, rowPeer]));
    rows.push([String(r.round), 'peer / Tessera', '', x(r.peerOverTessera.total), x(r.peerOverTessera.beforeDecode), x(r.peerOverTessera.decode), ratioDetail(r.peerOverTessera)]);
  }
  const m = medians;
  rows.push(['median', model.system, '', f(m.peer.secondsPerImage), f(m.peer.beforeDecode), f(m.peer.decode),
    model.diffusion ? `transformer and rest ${f(m.peer.transformer)}, diffusion head ${f(m.peer.head)}` : '']);
  rows.push(['median', `Tessera ${first.tessera.precision}`, '', f(m.tessera.secondsPerImage), f(m.tessera.beforeDecode), f(m.tessera.decode),
    `transformer ${f(m.tessera.transformer)}, head ${f(m.tessera.head)}, other ${f(m.tessera.other)}`]);
  rows.push(['median', 'peer / Tessera', '', x(m.peerOverTessera.total), x(m.peerOverTessera.beforeDecode), x(m.peerOverTessera.decode),
    `median of the rounds' ratios${model.diffusion ? `; ${ratioDetail(m.peerOverTessera)}` : ''}`]);
  const out = [
    header.what,
    `peer:    ${header.peer}, ${header.repo}`,
    `Tessera: ${header.tessera}`,
    'seconds per image; ratio > 1: Tessera faster. Only meaningful on a quiet machine (load1 well below the core count).',
    '',
    ...tableLines(rows),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}
