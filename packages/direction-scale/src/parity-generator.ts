/**
 * Whole-model parity cases (VAR `var.infer`, `var.edit.masked_infer`, `var.train.loss`;
 * HART `hart.infer`) run the real plugins: the generator is built from a config through
 * a PluginHost, which finds `msvq`, `categorical` and this direction by name exactly as a
 * config file does (plugins never import each other), with core's `adaln` built in.
 * This file maps the official constructor arguments of a manifest onto plugin options
 * and loads the case's weights into each plugin's module.
 */
import { adalnBackbone, parseConfig, PluginHost, TesseraError } from '@tessera/core';
import type { DrawSource, Engine, Generator, HostTensor, Module, ParityCase, SamplerSettings, SamplingContext, Tensor } from '@tessera/core';

type Kwargs = Record<string, unknown>;

export function num(kw: Kwargs, key: string, fallback?: number): number {
  const v = kw[key] ?? fallback;
  if (typeof v !== 'number') throw new TesseraError('MANIFEST_INVALID', `config \`${key}\` must be a number, got ${JSON.stringify(v)}`, { data: { key } });
  return v;
}

/** VQVAE / HARTAutoEncoder kwargs (VAR fixtures nest the CNN shape in `ddconfig`) → `msvq` options. */
export function msvqOptions(kw: Kwargs, hybrid: boolean): Kwargs {
  const dd = (kw.ddconfig ?? {}) as Kwargs;
  const patchNums = kw.v_patch_nums as number[];
  const chMult = (dd.ch_mult ?? kw.ch_mult ?? [1, 1, 2, 2, 4]) as number[];
  const qresiCounts = num(kw, 'default_qresi_counts', 0);
  return {
    vocabSize: num(kw, 'vocab_size'),
    zChannels: num(kw, 'z_channels'),
    ch: num(dd, 'ch', num(kw, 'ch')),
    chMult,
    numResBlocks: num(dd, 'num_res_blocks', num(kw, 'num_res_blocks', 2)),
    usingSelfAttention: Boolean(dd.using_sa ?? true),
    usingMidSelfAttention: Boolean(dd.using_mid_sa ?? true),
    patchNums,
    quantResi: num(kw, 'quant_resi', 0.5),
    shareQuantResi: num(kw, 'share_quant_resi', 4),
    ...(qresiCounts > 0 ? { defaultQresiCounts: qresiCounts } : {}),
    usingZnorm: Boolean(kw.using_znorm ?? false),
    beta: num(kw, 'beta', 0.25),
    quantConvKernelSize: num(kw, 'quant_conv_ks', 3),
    hybrid,
    resolution: patchNums[patchNums.length - 1] * 2 ** (chMult.length - 1),
  };
}

/** Builds a generator from slot configs through a PluginHost (adaln built in). */
export function buildGenerator(c: ParityCase, F: Engine, slots: Record<'tokenizer' | 'direction' | 'head' | 'backbone', { use: string; options: Kwargs }>, draws: DrawSource): Generator {
  const host = new PluginHost({ builtins: [adalnBackbone], searchPaths: [process.cwd(), __dirname] });
  const config = parseConfig({ name: c.manifest.case, ...slots }, c.file);
  return host.build(host.resolve(config, c.file), { engine: F, draws });
}

/** Loads `weights` into `module`, part by part: parity cases ship only the parts they use. */
export function loadPresent(module: Module, weights: Map<string, HostTensor>, source: string): void {
  module.loadStateDict(weights, { strict: false, source });
}

/** Splits weights by key prefixes: [matching, rest]. */
export function splitWeights(all: Map<string, HostTensor>, prefixes: string[]): [Map<string, HostTensor>, Map<string, HostTensor>] {
  const hit = new Map<string, HostTensor>();
  const rest = new Map<string, HostTensor>();
  for (const [k, t] of all) (prefixes.some((p) => k.startsWith(p)) ? hit : rest).set(k, t);
  return [hit, rest];
}

/** A sampling context over a generator's plugins; labels and null labels are int32 [B]. */
export function samplingContext(F: Engine, g: Generator, draws: DrawSource, settings: SamplerSettings, labels: Int32Array, nullClass: number): SamplingContext {
  return {
    tokenizer: g.tokenizer,
    backbone: g.backbone,
    head: g.head,
    draws,
    settings,
    labels: F.tensor(labels, [labels.length], 'int32'),
    nullLabels: F.full([labels.length], nullClass, 'int32'),
  };
}

/** Frees a generator's modules (tokenizer, backbone, head). */
export function disposeGenerator(g: Generator): void {
  g.tokenizer.module.dispose();
  g.backbone.module.dispose();
  g.head.module.dispose();
}

/** Collects observed host tensors under output names, keeping only those the manifest lists. */
export class OutputCollector {
  readonly out = new Map<string, HostTensor>();

  constructor(private readonly c: ParityCase) {}

  put(name: string, value: HostTensor): void {
    if (name in this.c.manifest.outputs) this.out.set(name, value);
  }

  async putTensor(F: Engine, name: string, t: Tensor): Promise<void> {
    if (name in this.c.manifest.outputs) {
      const data = await F.read(t);
      this.out.set(name, { dtype: t.dtype === 'int32' ? 'int32' : 'float32', shape: [...t.shape], data: data.slice() as Float32Array | Int32Array });
    }
    F.dispose(t);
  }
}
