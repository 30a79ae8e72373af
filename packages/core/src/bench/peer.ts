/**
 * The peer's figures: the official PyTorch code sampling on this kind of machine's CPU,
 * as measured in ../shared/PEER_BENCH.md (2-core AMD EPYC Zen 4, fp32, 2 threads, PyTorch
 * 1.13 + OpenBLAS, passive OpenMP waiting, random weights, median of 3). Seconds per
 * image; the phase split is the peer's own.
 */
export interface PeerFigure {
  preset: string;
  batch: number;
  /** The settings these seconds were measured with, in words. */
  settings: string;
  /** Diffusion steps of the row (diffusion heads), to match a run's settings. */
  diffusionSteps?: string;
  secondsPerImage: number;
  phases?: { transformer?: number; head?: number; decoder?: number };
}

export const PEER_FIGURES: readonly PeerFigure[] = [
  { preset: 'var-d16', batch: 1, settings: '256px, 10 scales, cfg 1.5, top-k 900, top-p 0.96, KV cache', secondsPerImage: 8.38, phases: { transformer: 5.44, decoder: 2.66 } },
  { preset: 'var-d16', batch: 8, settings: '256px, 10 scales, cfg 1.5, top-k 900, top-p 0.96, KV cache', secondsPerImage: 7.74, phases: { transformer: 4.80, decoder: 2.94 } },
  { preset: 'far-b', batch: 1, settings: '256px, 10 AR steps (nomask), 100 diffusion steps, cfg', diffusionSteps: '100', secondsPerImage: 254, phases: { transformer: 16.0, head: 236.7, decoder: 1.8 } },
  { preset: 'far-b', batch: 1, settings: '256px, 10 AR steps (nomask), 25 diffusion steps, cfg', diffusionSteps: '25', secondsPerImage: 74.7, phases: { transformer: 15.4, head: 57.5, decoder: 1.8 } },
  { preset: 'mar-b', batch: 1, settings: '256px, 64 iterations, 100 diffusion steps, cfg 2.9', diffusionSteps: '100', secondsPerImage: 203, phases: { head: 127.3, decoder: 1.8 } },
];

/** The peer's 1024³ fp32 torch matmul, and the machine's fp32 GEMM limit (PEER_BENCH.md). */
export const PEER_MATMUL_GFLOPS = 205;
export const FP32_LIMIT_GFLOPS = 210;

export function peerFigure(preset: string, batch: number, diffusionSteps?: string): PeerFigure | undefined {
  return PEER_FIGURES.find((p) => p.preset === preset && p.batch === batch && (p.diffusionSteps === undefined || p.diffusionSteps === diffusionSteps));
}
