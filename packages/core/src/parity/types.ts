/**
 * Parity handlers: one per fixture `kind`. A handler reads everything it needs from the
 * manifest (config, tensor names), runs Tessera's implementation on the case's inputs,
 * replays the recorded draws, and returns outputs by their logical names; the runner
 * compares them with the manifest's tolerances. Plugins contribute handlers for their
 * kinds through their plugin object.
 */
import type { Engine } from '../engine/engine';
import type { HostTensor } from '../tensor/host';
import type { ReplayDraws } from '../rng/draws';

export interface Tolerance {
  atol: number;
  rtol: number;
  /** Tensor names that must match exactly (token indices). */
  exact: string[];
  per_output?: Record<string, { atol?: number; rtol?: number }>;
}

export interface Manifest {
  case: string;
  kind: string;
  source?: { repo: string; commit: string };
  config: Record<string, unknown>;
  tensors: string;
  checkpoint: string | null;
  inputs: Record<string, string>;
  outputs: Record<string, string>;
  draws: string[];
  tolerance: Tolerance;
  notes?: string;
  [extra: string]: unknown;
}

export interface ParityCase {
  readonly manifest: Manifest;
  /** Path of the manifest file. */
  readonly file: string;
  /** Every tensor of the case's safetensors file. */
  readonly tensors: ReadonlyMap<string, HostTensor>;
  /** The input tensor of a logical input name (manifest.inputs). */
  input(name: string): HostTensor;
  /** Whether a logical input exists. */
  hasInput(name: string): boolean;
  /** `param.*` tensors with the prefix (and an optional sub-prefix such as `vae.`) stripped. */
  params(subPrefix?: string): Map<string, HostTensor>;
  /** The recorded draws, in order, as a draw source. */
  draws(): ReplayDraws;
  /** A config value, with a clear error when it is missing. */
  config<T = unknown>(key: string): T;
}

export type ParityOutputs = Map<string, HostTensor>;

export interface ParityHandler {
  kind: string;
  /** Returns outputs keyed by logical output name (manifest.outputs keys); extra `trace.*` names are compared when the manifest has them. */
  run(c: ParityCase, engine: Engine): Promise<ParityOutputs>;
}
