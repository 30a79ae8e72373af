/**
 * The bench report as text: one table per section, every figure beside its baseline
 * (onnx ÷ tfjs measured in the same run, Tessera ÷ peer from PEER_BENCH.md, achieved
 * GFLOP/s ÷ this run's traced matmul and ÷ the ~210 GFLOP/s fp32 limit).
 */
import type { BenchReport } from './suite';
import { PHASES } from './sampling';

const f = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export function formatBench(r: BenchReport): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`tessera bench (${r.mode}), ${r.startedAt}, ${f(r.seconds, 0)} s`);
  out.push(`machine: ${m.cores} cores, ${m.cpuModel} [${m.cpuFlags.join(' ')}], ${m.memoryGiB} GiB, load ${m.loadAverage} at start; node ${m.node}, onnxruntime-node ${m.onnxruntime ?? '?'}`);
  out.push('');
  const mm = r.matmul.best;
  out.push(`matmul ${mm.n}x${mm.n}x${mm.n} fp32 in a traced graph, ${mm.threads} threads: best ${f(mm.gflopsPerSecond, 1)} GFLOP/s (runs: ${r.matmul.runs.map((x) => f(x.gflopsPerSecond, 1)).join(', ')}); `
    + `${f(mm.gflopsPerSecond / r.fp32LimitGflops)} of the ~${r.fp32LimitGflops} GFLOP/s limit, ${f(mm.gflopsPerSecond / r.matmul.peerGflops)}x the peer's torch matmul (${r.matmul.peerGflops})`);
  if (r.tiny.length) {
    out.push('', 'Tiny presets, batch 1 (onnx vs tfjs in this run; target onnx/tfjs >= 5):');
    out.push(table(['preset', 'tfjs s/img', 'onnx s/img', 'onnx img/s', 'onnx ms/step', 'onnx/tfjs', 'same tokens'], r.tiny.map((t) => [
      t.preset, f(t.tfjs.secondsPerImage, 3), f(t.onnx.secondsPerImage, 3), f(t.onnx.imagesPerSecond), f(t.onnx.msPerStep, 1), `${f(t.speedup, 1)}x`,
      `${t.tokensMatch ? 'yes' : 'NO'} (rel. max |d| ${t.maxTokenDifference.toExponential(1)})`,
    ])));
  }
  if (r.released.length) {
    out.push('', 'Released architectures on the onnx engine (random weights, 256 px), vs the official code (PEER_BENCH.md):');
    out.push(table(['preset', 'batch', 'settings', 's/img', 'ms/step', 'peer s/img', 'peer/tessera', ...PHASES.map((p) => `${p} s (GFLOP/s)`), 'other s'], r.released.map((x) => [
      x.preset, String(x.batch),
      `${x.settings.diffusionSteps ? `${x.settings.diffusionSteps} diffusion steps` : 'as PEER_BENCH'}${x.reduced ? ` [REDUCED: ${x.reduced}]` : ''}`,
      f(x.onnx.secondsPerImage), f(x.onnx.msPerStep, 0), x.peer ? f(x.peer.secondsPerImage) : '-', x.speedupVsPeer ? `${f(x.speedupVsPeer)}x` : '-',
      ...PHASES.map((p) => `${f(x.onnx.phases[p].seconds)} (${x.onnx.phases[p].gflopsPerSecond !== undefined ? f(x.onnx.phases[p].gflopsPerSecond as number, 0) : '-'})`),
      f(x.onnx.phases.other.seconds),
    ])));
    out.push(`GFLOP/s: MatMul/Gemm/Conv FLOPs of the compiled graphs per phase time (JS work in the phase included); limit ~${r.fp32LimitGflops}, this run's matmul ${f(mm.gflopsPerSecond, 0)}.`);
  }
  if (r.forwardSteps.length) {
    out.push('', 'One forward step of a released transformer (the tfjs engine is too slow to sample these; measured, not extrapolated):');
    out.push(table(['preset', 'step', 'tfjs ms', 'onnx ms', 'onnx/tfjs'], r.forwardSteps.map((x) => [x.preset, x.what, f(x.tfjsMs, 0), f(x.onnxMs, 0), `${f(x.speedup, 1)}x`])));
  }
  if (r.training) out.push('', `Training step (tfjs, ${r.training.preset}, batch ${r.training.batch}): ${f(r.training.bestMs, 0)} ms, ${f(r.training.imagesPerSecond)} images/s`);
  if (r.notes.length) out.push('', ...r.notes.map((n) => `note: ${n}`));
  return out.join('\n');
}
