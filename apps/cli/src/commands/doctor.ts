/** `tessera doctor`: what this machine can run on — engines, backends, providers, versions. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { engineFactories, TfjsEngine, tfjsAvailability } from '@tessera/core';

function version(pkg: string): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

function cudaInfo(): string {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8', timeout: 5000 });
    return out.trim().split('\n').join('; ');
  } catch {
    return existsSync('/dev/nvidiactl') ? 'driver present, nvidia-smi failed' : 'no CUDA device';
  }
}

export interface DoctorReport {
  node: string;
  platform: string;
  cpus: number;
  engines: string[];
  tfjs: { version: string; installed: ReturnType<typeof tfjsAvailability>; activeBackend: string; training: string };
  onnxruntime: { version: string; providers: { name: string; bundled: boolean }[] | string };
  sharp: string;
  cuda: string;
}

export async function doctor(): Promise<DoctorReport> {
  const os = await import('node:os');
  const tfjs = await TfjsEngine.create();
  let providers: DoctorReport['onnxruntime']['providers'];
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ort = require('onnxruntime-node') as { listSupportedBackends(): { name: string; bundled: boolean }[] };
    providers = ort.listSupportedBackends();
  } catch (e) {
    providers = `unavailable: ${(e as Error).message.split('\n')[0]}`;
  }
  const avail = tfjsAvailability();
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: os.cpus().length,
    engines: engineFactories().map((f) => f.name),
    tfjs: {
      version: version('@tensorflow/tfjs-core'),
      installed: avail,
      activeBackend: tfjs.info.backend,
      training: tfjs.info.backend === 'wasm' ? 'wasm with Tessera\'s gradient kernels (UnsortedSegmentSum, Conv2DBackpropFilter)' : tfjs.info.backend,
    },
    onnxruntime: { version: version('onnxruntime-node'), providers },
    sharp: version('sharp'),
    cuda: cudaInfo(),
  };
}

export function formatDoctor(r: DoctorReport): string {
  const ort = typeof r.onnxruntime.providers === 'string'
    ? r.onnxruntime.providers
    : r.onnxruntime.providers.map((p) => `${p.name}${p.bundled ? '' : ' (binaries not installed)'}`).join(', ');
  return [
    `node        ${r.node} on ${r.platform}, ${r.cpus} CPUs`,
    `engines     ${r.engines.join(', ')}`,
    `tfjs        ${r.tfjs.version}; active backend: ${r.tfjs.activeBackend}; tfjs-node-gpu: ${r.tfjs.installed.nodeGpu ? 'yes' : 'no'}, tfjs-node: ${r.tfjs.installed.node ? 'yes' : 'no'}, wasm: ${r.tfjs.installed.wasm ? 'yes' : 'no'}`,
    `training    ${r.tfjs.training}`,
    `onnxruntime ${r.onnxruntime.version}; providers: ${ort}`,
    `sharp       ${r.sharp}`,
    `cuda        ${r.cuda}`,
  ].join('\n');
}
