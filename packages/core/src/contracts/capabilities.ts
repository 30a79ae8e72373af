/**
 * The capability model. Each plugin provides capabilities and states requirements on
 * the other slots of its generator; the host checks them when a config is loaded and
 * refuses a combination with one message naming both plugins and the missing
 * capability. Capabilities may depend on options (msvq provides `residual` only in
 * hybrid mode), so a plugin declares them as a function of its parsed options.
 */
export type Slot = 'tokenizer' | 'direction' | 'head' | 'backbone';

export const CAPABILITIES = {
  // tokenizer
  discrete: 'discrete tokens (indices into a codebook)',
  continuous: 'continuous tokens (real-valued latent vectors)',
  'multi-scale': 'a multi-scale residual quantizer (VAR-style encode / accumulate / next-scale input)',
  pyramid: 'a generic multi-scale view of its latents (area down, bicubic up)',
  residual: 'the continuous residual left after discrete reconstruction (HART hybrid tokens)',
  // direction
  'attention.causal': 'causal attention (each token sees the tokens before it)',
  'attention.block-causal': 'block-causal attention (each scale sees itself and coarser scales)',
  'attention.bidirectional': 'bidirectional attention over a partially known token set',
  // backbone
  'kv-cache': 'a key/value cache for step-by-step sampling',
} as const;

export type Capability = keyof typeof CAPABILITIES | (string & {});

export interface Requirement {
  /** The slot whose plugin must provide it. */
  slot: Slot;
  /** Satisfied when that plugin provides any of these. */
  anyOf: Capability[];
  /** What this plugin needs it for, e.g. `discrete tokens`. */
  need: string;
  /** How to fix, e.g. `use head \`diffusion\`, or a discrete tokenizer such as \`msvq\``. */
  fix?: string;
}

export interface Capabilities {
  provides: Capability[];
  requires: Requirement[];
}

export function describeCapability(c: Capability): string {
  return (CAPABILITIES as Record<string, string>)[c] ?? c;
}
