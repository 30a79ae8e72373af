/**
 * The machine a benchmark ran on: what BENCHMARKS.md and `tessera bench --json` record
 * beside the figures (core count, CPU model and flags that decide GEMM speed, memory,
 * load at the start, Node and onnxruntime versions).
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  /** AVX-512 / BF16 / VNNI / AMX flags present (they decide fp32 and reduced-precision GEMM speed). */
  cpuFlags: string[];
  memoryGiB: number;
  /** 1-minute load average when the run started (the machines are shared). */
  loadAverage: number;
  node: string;
  onnxruntime?: string;
}

function cpuinfo(): { model: string; flags: string[] } {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
    const flags = (/^flags\s*:\s*(.+)$/m.exec(text)?.[1] ?? '').split(/\s+/).filter((f) => /^(avx512f|avx512_bf16|avx512_vnni|avx_vnni|amx_\w+|avx2|fma)$/.test(f));
    return { model, flags };
  } catch {
    return { model: os.cpus()[0]?.model ?? 'unknown', flags: [] };
  }
}

function packageVersion(name: string): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(`${name}/package.json`) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

export function describeMachine(): MachineInfo {
  const { model, flags } = cpuinfo();
  return {
    cores: os.availableParallelism(),
    cpuModel: model,
    cpuFlags: flags,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: Math.round(os.loadavg()[0] * 100) / 100,
    node: process.version,
    onnxruntime: packageVersion('onnxruntime-node'),
  };
}
