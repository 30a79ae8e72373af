/**
 * `tessera bench [--json] [--quick | --full]`: sampling throughput of the tiny presets on
 * both engines, the released architectures on the onnx engine against the official code's
 * times (PEER_BENCH.md), a traced 1024³ matmul, a tfjs training step (core's
 * `bench.runBench`). Progress goes to stderr; the report (text or JSON) to stdout.
 */
import { bench, parseDevice, parsePrecision, TesseraError } from '@tessera/core';

export interface BenchFlags {
  json?: boolean;
  quick?: boolean;
  full?: boolean;
  only?: string;
  configs?: string;
  device?: string;
  threads?: string;
  spinning?: boolean;
  precision?: string;
  diffusionSteps?: string;
}

export async function benchCommand(flags: BenchFlags, write: (s: string) => void): Promise<void> {
  if (flags.quick && flags.full) throw new TesseraError('USAGE', '`--quick` and `--full` exclude each other; pass one');
  const threads = flags.threads === undefined ? undefined : Number(flags.threads);
  if (threads !== undefined && !(Number.isInteger(threads) && threads > 0)) {
    throw new TesseraError('USAGE', `\`--threads\` must be a positive integer, got ${flags.threads}`);
  }
  if (flags.diffusionSteps !== undefined && !/^[1-9][0-9]*$/.test(flags.diffusionSteps)) {
    throw new TesseraError('USAGE', `\`--diffusion-steps\` must be a positive integer, got ${flags.diffusionSteps}`);
  }
  const report = await bench.runBench({
    mode: flags.quick ? 'quick' : flags.full ? 'full' : 'default',
    configDir: flags.configs,
    searchPaths: [process.cwd(), __dirname],
    device: flags.device === undefined ? undefined : parseDevice(flags.device),
    threads,
    spinning: flags.spinning,
    precision: flags.precision === undefined ? undefined : parsePrecision(flags.precision),
    diffusionSteps: flags.diffusionSteps,
    only: flags.only?.split(',').map((s) => s.trim()).filter(Boolean),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  write(flags.json ? JSON.stringify(report, null, 2) : bench.formatBench(report));
}
