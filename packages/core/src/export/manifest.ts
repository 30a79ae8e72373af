/**
 * The JSON of an export folder (`tessera-export.json`): the graphs with their inputs and
 * outputs, and the sampling loop as data, so a runtime without Tessera can drive it.
 *
 * The loop is a small data-flow program over named state slots. `state` declares the
 * slots that exist before the first step (zeros, or the class-label rows); each step is
 * a list of calls: a graph call reads its inputs from slots and writes its outputs into
 * slots (the KV cache of step k is written as `kv.key.i` / `kv.value.i` and read by step
 * k + 1 the same way); a sampling call turns a slot of logits into a slot of token
 * indices with the step's settings (guidance mixing, temperature, top-k, top-p, greedy).
 * After the last step, `finish` runs (the tokenizer's decoder) and `output` names the
 * slot holding the images.
 */
import type { GeneratorConfig } from '../plugin/config';
import type { SamplerSettings } from '../contracts/direction';
import type { GraphEntry } from './writer';

export const EXPORT_FORMAT = 'tessera-export';
export const EXPORT_VERSION = 1;

/** A slot that exists before the first step. */
export interface StateSlot {
  shape: number[];
  dtype: 'float32' | 'int32';
  /** `zeros`; or `labels`: the B class labels, then (guided) B null-class labels. */
  init: 'zeros' | 'labels';
}

export interface GraphCall {
  graph: string;
  /** Graph input name -> slot it reads. */
  inputs: Record<string, string>;
  /** Graph output name -> slot it writes. */
  outputs: Record<string, string>;
}

/**
 * Categorical sampling of one step: `logits` [R, l, V] (R = 2B when guided: conditional
 * rows then null-condition rows, mixed as `(1 + t)·cond − t·uncond` with t = guidance − 1,
 * each product rounded to float32); then temperature, top-k, top-p; then the argmax
 * (greedy) or one categorical draw per position; written as int32 [B, l] into `into`.
 */
export interface CategoricalSampleCall {
  sample: 'categorical';
  logits: string;
  into: string;
  guidance: number;
  temperature: number;
  topK: number | null;
  topP: number | null;
}

export type LoopCall = GraphCall | CategoricalSampleCall;

export interface LoopStep {
  index: number;
  label: string;
  /** Tokens per image predicted at this step. */
  tokens: number;
  calls: LoopCall[];
  /** Loop-specific facts (next-scale: the side of the scale's map and its sequence positions). */
  [extra: string]: unknown;
}

export interface ExportManifest {
  format: typeof EXPORT_FORMAT;
  version: typeof EXPORT_VERSION;
  producer: string;
  generator: { name: string; config: GeneratorConfig };
  /** `next-scale` (VAR): the loop below runs as is. `mae-diffusion` (MAR/FAR): graphs and loop facts only. */
  loop: string;
  batch: number;
  guided: boolean;
  classes: { count: number; nullClass: number };
  /** The config's sampler settings the steps were resolved with. */
  sampling: SamplerSettings;
  weights: { file: string; bytes: number };
  graphs: Record<string, GraphEntry>;
  state: Record<string, StateSlot>;
  steps: LoopStep[];
  finish: GraphCall[];
  /** The slot with the images [B, 3, H, W] in [−1, 1]. */
  output: { images: string };
  /** Facts a runtime needs beyond the graphs (KV-cache layout, diffusion schedule, ...). */
  details: Record<string, unknown>;
}
