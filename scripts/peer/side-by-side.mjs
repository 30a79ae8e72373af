#!/usr/bin/env node
// Side-by-side timing of the official VAR code (scripts/peer/var_sample.py) and Tessera
// (`tessera bench --json --only var-d16 --quick`) on VAR-d16, batch 1, PEER_BENCH.md
// settings. A developer script (see README.md next to it), not part of CI or the tests.
//
//   node scripts/peer/side-by-side.mjs --repo /tmp/var-official [--rounds 2] [--precision int8] [--json]
//
// Each round runs both once (each does one warm-up and one measured run); the order
// alternates between rounds (peer first in odd rounds, Tessera first in even ones) so that
// a drifting background load does not always favour the same side. The 1-minute load
// average (/proc/loadavg) is read before each run. Progress of both goes to stderr.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const USAGE = `usage: node scripts/peer/side-by-side.mjs --repo <VAR checkout> [options]

  --repo <dir>        checkout of github.com/FoundationVision/VAR (or env VAR_REPO)
  --rounds <n>        rounds, each one peer run and one Tessera run (default 2)
  --precision <p>     passed to tessera bench: fp32 (default), int8 or int8-conv
  --threads <n>       threads of both (default 2)
  --python <path>     Python interpreter for the peer (default /usr/bin/python3)
  --json              print the results as JSON instead of a table
  -h, --help          this text`;

function fail(message) {
  process.stderr.write(`side-by-side: ${message}\n`);
  process.exit(2);
}

let opts;
try {
  opts = parseArgs({
    options: {
      repo: { type: 'string' },
      rounds: { type: 'string', default: '2' },
      precision: { type: 'string' },
      threads: { type: 'string', default: '2' },
      python: { type: 'string', default: '/usr/bin/python3' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }).values;
} catch (e) {
  fail(`${e.message}\n${USAGE}`);
}
if (opts.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const repo = opts.repo ?? process.env.VAR_REPO;
if (!repo) fail(`--repo is required\n${USAGE}`);
if (!existsSync(join(repo, 'models', 'var.py'))) fail(`${repo} does not look like a FoundationVision/VAR checkout (models/var.py missing)`);
const rounds = Number(opts.rounds);
if (!Number.isInteger(rounds) || rounds < 1) fail(`--rounds must be a positive integer, got ${opts.rounds}`);
const threads = Number(opts.threads);
if (!Number.isInteger(threads) || threads < 1) fail(`--threads must be a positive integer, got ${opts.threads}`);
if (opts.precision !== undefined && !['fp32', 'int8', 'int8-conv'].includes(opts.precision)) fail(`--precision must be fp32, int8 or int8-conv, got ${opts.precision}`);
const cli = join(ROOT, 'apps', 'cli', 'dist', 'bin.js');
if (!existsSync(cli)) fail('apps/cli/dist/bin.js is missing: run `npm run build` at the repository root first');
const peerScript = join(ROOT, 'scripts', 'peer', 'var_sample.py');

function load1() {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(/\s+/)[0]);
  } catch {
    return null;
  }
}

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
  const out = run('official VAR', opts.python, [peerScript, '--repo', resolve(repo), '--runs', '1', '--threads', String(threads)], env);
  const p = parseJson('var_sample.py', out, true);
  return { load1: load, secondsPerImage: p.s_per_image, beforeDecode: p.transformer_s, decode: p.decode_s, warmupSeconds: p.warmup_s, threads: p.threads, torch: p.torch, raw: p };
}

function runTessera() {
  const args = [cli, 'bench', '--json', '--only', 'var-d16', '--quick', '--threads', String(threads)];
  if (opts.precision) args.push('--precision', opts.precision);
  const load = load1();
  const out = run('Tessera', process.execPath, args, process.env);
  const report = parseJson('tessera bench', out, false);
  const r = (report.released ?? []).find((x) => x.preset === 'var-d16' && x.batch === 1);
  if (!r) fail('tessera bench reported no var-d16 batch 1 result');
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

const ratios = (peer, tessera) => ({
  total: peer.secondsPerImage / tessera.secondsPerImage,
  beforeDecode: peer.beforeDecode / tessera.beforeDecode,
  decode: peer.decode / tessera.decode,
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

const median = (xs) => {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const med = (side, key) => median(results.map((r) => r[side][key]));
const medians = {
  peer: { secondsPerImage: med('peer', 'secondsPerImage'), beforeDecode: med('peer', 'beforeDecode'), decode: med('peer', 'decode') },
  tessera: {
    secondsPerImage: med('tessera', 'secondsPerImage'), beforeDecode: med('tessera', 'beforeDecode'), decode: med('tessera', 'decode'),
    transformer: med('tessera', 'transformer'), head: med('tessera', 'head'), other: med('tessera', 'other'),
  },
  peerOverTessera: {
    total: median(results.map((r) => r.peerOverTessera.total)),
    beforeDecode: median(results.map((r) => r.peerOverTessera.beforeDecode)),
    decode: median(results.map((r) => r.peerOverTessera.decode)),
  },
};

const first = results[0];
const header = {
  what: 'VAR-d16, batch 1, 256 px, cfg 1.5, top-k 900, top-p 0.96, random weights; each side: one warm-up + one measured run per round',
  peer: `official VAR (torch ${first.peer.torch}, ${first.peer.threads} threads, OMP_WAIT_POLICY=${first.peer.raw.omp_wait_policy})`,
  tessera: `tessera bench --quick --only var-d16, onnx ${first.tessera.precision}, ${threads} threads`,
  repo: resolve(repo),
};

if (opts.json) {
  process.stdout.write(`${JSON.stringify({ ...header, rounds: results.map(({ round, order, peer: { raw, ...peer }, tessera, peerOverTessera }) => ({ round, order, peer: { ...peer, runs: raw.runs }, tessera, peerOverTessera })), medians }, null, 2)}\n`);
} else {
  const f = (x, d = 2) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '-');
  const x = (v) => (typeof v === 'number' && Number.isFinite(v) ? `${v.toFixed(2)}x` : '-');
  const rows = [['round', 'system', 'load1 before', 's/img', 'before decode', 'decode', 'detail']];
  for (const r of results) {
    const p = r.peer, t = r.tessera;
    const rowPeer = [String(r.round), 'official VAR', f(p.load1), f(p.secondsPerImage), f(p.beforeDecode), f(p.decode), 'before decode = transformer + sampling'];
    const rowTess = [String(r.round), `Tessera ${t.precision}`, f(t.load1), f(t.secondsPerImage), f(t.beforeDecode), f(t.decode),
      `transformer ${f(t.transformer)}, head ${f(t.head)}, other ${f(t.other)}; matmul ${f(t.matmulGflops, 0)} GFLOP/s`];
    rows.push(...(r.order.startsWith('peer') ? [rowPeer, rowTess] : [rowTess, rowPeer]));
    rows.push([String(r.round), 'peer / Tessera', '', x(r.peerOverTessera.total), x(r.peerOverTessera.beforeDecode), x(r.peerOverTessera.decode), '']);
  }
  const m = medians;
  rows.push(['median', 'official VAR', '', f(m.peer.secondsPerImage), f(m.peer.beforeDecode), f(m.peer.decode), '']);
  rows.push(['median', `Tessera ${first.tessera.precision}`, '', f(m.tessera.secondsPerImage), f(m.tessera.beforeDecode), f(m.tessera.decode),
    `transformer ${f(m.tessera.transformer)}, head ${f(m.tessera.head)}, other ${f(m.tessera.other)}`]);
  rows.push(['median', 'peer / Tessera', '', x(m.peerOverTessera.total), x(m.peerOverTessera.beforeDecode), x(m.peerOverTessera.decode), 'median of the rounds\' ratios']);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const line = (row) => row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd();
  const out = [
    header.what,
    `peer:    ${header.peer}, ${header.repo}`,
    `Tessera: ${header.tessera}`,
    'seconds per image; ratio > 1: Tessera faster. Only meaningful on a quiet machine (load1 well below the core count).',
    '',
    line(rows[0]),
    ...rows.slice(1).map(line),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}
