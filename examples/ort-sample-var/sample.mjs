#!/usr/bin/env node
/**
 * Samples an image from a `tessera export` folder of a VAR-like (next-scale) generator
 * with onnxruntime-node alone: no Tessera code. It reads `tessera-export.json` and runs
 * its loop as data: state slots (class-label rows, f̂ zeros), then for each scale the
 * listed calls — backbone step (KV cache in and out), head logits, categorical sampling
 * here in JS (guidance mixing, temperature, top-k, top-p, greedy or a draw from a small
 * seeded RNG), the quantizer's f̂ update and next-scale input — and finally the decoder.
 * The PNG is written with sharp.
 *
 *   node examples/ort-sample-var/sample.mjs --export out/var-tiny --class 3 --seed 1 --out var.png [--greedy] [--tokens tokens.json]
 *
 * Greedy sampling picks the same tokens as Tessera's own sampler; random draws use this
 * file's RNG, so they differ from Tessera's seeded draws.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import sharp from 'sharp';

const f32 = Math.fround;

function parseCli() {
  const { values } = parseArgs({
    options: {
      export: { type: 'string' },
      class: { type: 'string', multiple: true },
      seed: { type: 'string', default: '0' },
      out: { type: 'string', default: 'sample.png' },
      greedy: { type: 'boolean', default: false },
      tokens: { type: 'string' },
      threads: { type: 'string', default: '0' },
    },
  });
  if (!values.export) throw new Error('--export <dir> is required (a `tessera export` folder)');
  return values;
}

/** mulberry32: a small seeded generator of uniforms in (0, 1). */
function makeRng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
}

/** `(1 + t)·cond − t·uncond` (t = guidance − 1) over [cond rows; uncond rows], each product in float32. */
function mixGuidance(both, guidance) {
  const half = both.length / 2;
  const t = guidance - 1;
  const a = f32(1 + t), b = f32(t);
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) out[i] = f32(f32(a * both[i]) - f32(b * both[half + i]));
  return out;
}

function softmax(row) {
  let max = -Infinity;
  for (const x of row) if (x > max) max = x;
  const p = new Float64Array(row.length);
  let sum = 0;
  for (let v = 0; v < row.length; v++) sum += p[v] = Math.exp(row[v] - max);
  for (let v = 0; v < row.length; v++) p[v] /= sum;
  return p;
}

/** One token per row of `logits` [rows, V] with the step's settings. */
function sampleRows(logits, V, step, greedy, rng) {
  const rows = logits.length / V;
  const idx = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = Float32Array.from(logits.subarray(r * V, (r + 1) * V));
    if (step.temperature !== 1) for (let v = 0; v < V; v++) row[v] = f32(row[v] / f32(step.temperature));
    if (step.topK !== null && step.topK < V) {
      const threshold = Float32Array.from(row).sort()[V - step.topK];
      for (let v = 0; v < V; v++) if (row[v] < threshold) row[v] = -Infinity;
    }
    if (step.topP !== null) {
      const order = [...row.keys()].sort((i, j) => row[i] - row[j] || i - j);
      const p = softmax(order.map((i) => row[i]));
      let cumulative = 0;
      for (let n = 0; n < V - 1; n++) {
        cumulative += p[n];
        if (cumulative <= 1 - step.topP) row[order[n]] = -Infinity;
      }
    }
    if (greedy) {
      let best = 0;
      for (let v = 1; v < V; v++) if (row[v] > row[best]) best = v;
      idx[r] = best;
      continue;
    }
    const p = softmax(row);
    let u = rng(), pick = V - 1;
    for (let v = 0; v < V; v++) {
      u -= p[v];
      if (u <= 0 && p[v] > 0) { pick = v; break; }
    }
    idx[r] = pick;
  }
  return idx;
}

function initialState(manifest, labels) {
  const state = new Map();
  const { batch: B, guided, classes } = manifest;
  for (const [name, slot] of Object.entries(manifest.state)) {
    const n = slot.shape.reduce((a, b) => a * b, 1);
    let data;
    if (slot.init === 'labels') {
      data = new Int32Array(n);
      for (let i = 0; i < B; i++) data[i] = labels[i % labels.length] ?? classes.nullClass;
      if (guided) data.fill(classes.nullClass, B, 2 * B);
    } else {
      data = slot.dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
    }
    state.set(name, new ort.Tensor(slot.dtype, data, slot.shape));
  }
  return state;
}

async function runGraph(sessions, call, state) {
  const feeds = {};
  for (const [input, slot] of Object.entries(call.inputs)) {
    const value = state.get(slot);
    if (!value) throw new Error(`slot \`${slot}\` (input \`${input}\` of \`${call.graph}\`) is empty`);
    feeds[input] = value;
  }
  const results = await sessions.get(call.graph).run(feeds);
  for (const [output, slot] of Object.entries(call.outputs)) state.set(slot, results[output]);
}

async function writePng(images, file) {
  const [B, C, H, W] = images.dims;
  const pixels = Buffer.alloc(H * W * B * C);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const v = images.data[((b * C + c) * H + y) * W + x];
          pixels[(y * W * B + b * W + x) * C + c] = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
        }
      }
    }
  }
  await sharp(pixels, { raw: { width: W * B, height: H, channels: C } }).png().toFile(file);
}

async function main() {
  const args = parseCli();
  const dir = args.export;
  const manifest = JSON.parse(readFileSync(path.join(dir, 'tessera-export.json'), 'utf8'));
  if (manifest.format !== 'tessera-export' || manifest.loop !== 'next-scale') {
    throw new Error(`${dir} holds a \`${manifest.loop}\` export; this example runs next-scale (VAR) exports`);
  }
  const options = { graphOptimizationLevel: 'all', ...(Number(args.threads) > 0 ? { intraOpNumThreads: Number(args.threads) } : {}) };
  const sessions = new Map();
  for (const [name, graph] of Object.entries(manifest.graphs)) {
    sessions.set(name, await ort.InferenceSession.create(path.join(dir, graph.file), options));
  }
  const labels = (args.class ?? ['0']).flatMap((s) => s.split(',')).map((s) => (s === 'null' ? manifest.classes.nullClass : Number(s)));
  const greedy = args.greedy || manifest.sampling.greedy;
  const rng = makeRng(Number(args.seed));
  const state = initialState(manifest, labels);
  const tokens = [];
  for (const step of manifest.steps) {
    for (const call of step.calls) {
      if (call.graph) {
        await runGraph(sessions, call, state);
        continue;
      }
      const logits = state.get(call.logits);
      const V = logits.dims[logits.dims.length - 1];
      const mixed = manifest.guided ? mixGuidance(logits.data, call.guidance) : logits.data;
      const idx = sampleRows(mixed, V, call, greedy, rng);
      state.set(call.into, new ort.Tensor('int32', idx, [manifest.batch, idx.length / manifest.batch]));
      tokens.push(Array.from(idx));
    }
    process.stderr.write(`${step.label}\n`);
  }
  for (const call of manifest.finish) await runGraph(sessions, call, state);
  await writePng(state.get(manifest.output.images), args.out);
  if (args.tokens) writeFileSync(args.tokens, JSON.stringify({ labels, greedy, tokens }));
  process.stderr.write(`wrote ${args.out}\n`);
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
