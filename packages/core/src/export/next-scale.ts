/**
 * Export of next-scale generators (VAR, arXiv 2404.02905 §3; the loop of the official
 * `autoregressive_infer_cfg` in FoundationVision/VAR `models/var.py`, as direction
 * `scale` runs it). Graphs per scale k, each traced from the modules' own methods:
 *
 * - `backbone_step_k`: `backbone.step` with the KV cache of scales < k as inputs
 *   (`past_key_i`/`past_value_i` [R, H, L_k, dh]) and the grown cache as outputs; the
 *   hidden states of the scale's pn_k² positions and the AdaLN condition;
 * - `head_k`: `head.logits` of those positions [R, pn_k², V];
 * - `quantizer_next_k`: the chosen codes' vectors (`multiScale.embed`) accumulated into
 *   f̂ and the next scale's input (`multiScale.nextInput`, VAR's
 *   `get_next_autoregressive_input`);
 *
 * and `tokenizer_decoder` (`multiScale.decodeFeatures`: f̂ → image). Guidance rows are
 * inside the graphs: with guidance the next input is fed once [B, ...] and stacked for
 * the conditional and null-condition rows (R = 2B) as the direction does. Per-step
 * sampling settings (the guidance ramp, top-k/top-p) come from the direction's own
 * `headOptions`, so the manifest holds the values the Tessera sampler would use.
 */
import type { Backbone } from '../contracts/backbone';
import type { DirectionStep, SamplerSettings } from '../contracts/direction';
import type { Generator } from '../contracts/generator';
import type { HeadInput } from '../contracts/head';
import type { Engine } from '../engine/engine';
import type { Tensor } from '../engine/ops';
import { TesseraError } from '../errors';
import { AdalnBackbone, AdalnKvCache } from '../backbones/adaln/backbone';
import { flatKv, pairKv, VarTransformer } from '../backbones/adaln/var-model';
import { SeededDraws } from '../rng/draws';
import type { GraphCall, LoopStep, StateSlot } from './manifest';
import type { ExportWriter } from './writer';

const SUBJECT = 'export';

/** What the direction `scale` offers beyond the contract (duck-typed: core never imports a plugin). */
interface ScaleDirectionView {
  patchNums(tokenizer: Generator['tokenizer']): number[];
  schedule(tokenizer: Generator['tokenizer']): DirectionStep[];
  headOptions(settings: SamplerSettings, k: number, K: number, vocab: number | undefined, draws: SeededDraws, guided: boolean): { cfg: number; temperature: number; topK?: number | null; topP?: number | null };
}

export function isNextScale(gen: Generator): boolean {
  const d = gen.direction as unknown as Partial<ScaleDirectionView>;
  return typeof d.headOptions === 'function' && typeof d.patchNums === 'function' && gen.tokenizer.multiScale !== undefined;
}

function refuse(message: string): never {
  throw new TesseraError('PLUGIN_INCOMPATIBLE', message, { subject: SUBJECT });
}

/** (B, pn², C) → (B, C, pn, pn), as direction `scale` lays a scale's rows out. */
function rowsToMap(F: Engine, x_BlC: Tensor, pn: number): Tensor {
  const [B, , C] = x_BlC.shape;
  return F.reshape(F.transpose(x_BlC, [0, 2, 1]), [B, C, pn, pn]); // (B, l, C) -> (B, C, l) -> (B, C, pn, pn)
}

/** (B, C, h, w) → (B, hw, C). */
function mapToRows(F: Engine, x_BChw: Tensor): Tensor {
  const [B, C, h, w] = x_BChw.shape;
  return F.transpose(F.reshape(x_BChw, [B, C, h * w]), [0, 2, 1]); // (B, C, hw) -> (B, hw, C)
}

export interface NextScaleExport {
  state: Record<string, StateSlot>;
  steps: LoopStep[];
  finish: GraphCall[];
  details: Record<string, unknown>;
}

/** Traces and writes every graph of a next-scale generator; returns the loop part of the manifest. */
export function exportNextScale(gen: Generator, writer: ExportWriter, o: { batch: number; guided: boolean; settings: SamplerSettings; nullClass: number }): NextScaleExport {
  const F = gen.engine;
  const { tokenizer, head } = gen;
  const direction = gen.direction as unknown as ScaleDirectionView;
  const backbone: Backbone = gen.backbone;
  if (!(backbone instanceof AdalnBackbone) || !(backbone.module instanceof VarTransformer)) refuse(`next-scale export supports backbone \`adaln\` with variant \`var\`; got \`${backbone.id}\`${backbone instanceof AdalnBackbone ? ' (variant hart)' : ''}`);
  if (head.residual) refuse(`\`${head.id}\` composes a residual head (HART); next-scale export covers VAR's categorical head only`);
  const logits = (head as unknown as { logits?: (input: HeadInput) => Tensor }).logits;
  if (typeof logits !== 'function' || tokenizer.space.kind !== 'discrete') refuse(`next-scale export needs a discrete tokenizer and a categorical head with \`logits\`; got \`${tokenizer.id}\` and \`${head.id}\``);
  if (o.settings.smooth) refuse('sampling setting `smooth` (VAR\'s Gumbel code mixing) is not exported; turn it off in the config\'s `sampling`');
  const ms = tokenizer.multiScale as NonNullable<typeof tokenizer.multiScale>;
  const space = tokenizer.space;
  const m = backbone.module;
  const pns = direction.patchNums(tokenizer);
  const K = pns.length;
  const B = o.batch, R = o.guided ? 2 * B : B;
  const C = space.embedDim, P = pns[K - 1];
  const H = m.cfg.numHeads, dh = m.cfg.embedDim / H, D = m.cfg.embedDim, V = space.vocab;
  const depth = m.blocks.length;
  const blockSizes = pns.map((pn) => pn * pn);
  const schedule = direction.schedule(tokenizer);
  const kvNames = (kind: 'past' | 'present'): string[] => Array.from({ length: depth }, (_, i) => [`${kind}_key_${i}`, `${kind}_value_${i}`]).flat();
  const kvSlots = Array.from({ length: depth }, (_, i) => [`kv.key.${i}`, `kv.value.${i}`]).flat();
  const steps: LoopStep[] = [];
  let start = 0; // positions fed before scale k
  for (let k = 0; k < K; k++) {
    const pn = pns[k], l = pn * pn, last = k === K - 1;
    const inputs = [
      { name: 'labels_R', shape: [R], dtype: 'int32' as const },
      ...(k > 0 ? [{ name: 'next_BlC', shape: [B, l, C], dtype: 'float32' as const }] : []),
      ...(k > 0 ? kvNames('past').map((name) => ({ name, shape: [R, H, start, dh], dtype: 'float32' as const })) : []),
    ];
    const stepOutputs = ['hidden_RlD', 'cond_RD', ...(last ? [] : kvNames('present'))];
    const at = start;
    writer.graph(`backbone_step_${k}`, `backbone step of scale ${k} (${pn}x${pn}): positions [${at}, ${at + (k === 0 ? m.firstL : l)}) against the cached keys/values of the ${at} before`, inputs, stepOutputs, (labels_R, ...rest) => {
      const next_BlC = k > 0 ? rest[0] : undefined;
      const past = k > 0 ? pairKv(rest.slice(1, 1 + 2 * depth)) : undefined;
      const feed = next_BlC ? (o.guided ? F.concat([next_BlC, next_BlC], 0) : next_BlC) : F.zeros([R, 0, C]);
      const cache = past ? new AdalnKvCache(F, past, at, []) : undefined; // modulations recomputed inside each exported step
      const r = backbone.step({ inputs: feed, labels: labels_R, attention: { kind: 'block-causal', blockSizes } }, cache);
      const hidden = r.output.hidden;
      const n = hidden.shape[1];
      const z_RlD = F.slice(hidden, [0, n - l, 0], [R, l, D]);
      const kv = last ? [] : flatKv((r.cache as AdalnKvCache).kv);
      return [z_RlD, r.output.cond as Tensor, ...kv];
    });
    writer.graph(`head_${k}`, `categorical head logits of scale ${k}`, [
      { name: 'hidden_RlD', shape: [R, l, D], dtype: 'float32' },
      { name: 'cond_RD', shape: [R, D], dtype: 'float32' },
    ], ['logits_RlV'], (z_RlD, cond_RD) => [logits.call(head, { z: z_RlD, cond: cond_RD })]);
    writer.graph(`quantizer_next_${k}`, `f̂ += φ(up(codes of scale ${k}))${last ? '' : `; next input = area(f̂, ${pns[k + 1]})`}`, [
      { name: 'fHat_BChw', shape: [B, C, P, P], dtype: 'float32' },
      { name: 'idx_Bl', shape: [B, l], dtype: 'int32' },
    ], last ? ['fHatNext_BChw'] : ['fHatNext_BChw', 'next_BlC'], (fHat_BChw, idx_Bl) => {
      const h_BChw = rowsToMap(F, ms.embed(idx_Bl), pn);
      const { fHat, next } = ms.nextInput(k, fHat_BChw, h_BChw);
      return last ? [fHat] : [fHat, mapToRows(F, next as Tensor)];
    });
    const ho = direction.headOptions(o.settings, k, K, V, SeededDraws.fromSeed(0), o.guided);
    const kvIn = k > 0 ? Object.fromEntries(kvNames('past').map((n, i) => [n, kvSlots[i]])) : {};
    const kvOut = last ? {} : Object.fromEntries(kvNames('present').map((n, i) => [n, kvSlots[i]]));
    steps.push({
      index: k,
      label: schedule[k]?.label ?? `scale ${k}`,
      tokens: l,
      patch: pn,
      positions: { start: at, length: k === 0 ? m.firstL : l },
      calls: [
        { graph: `backbone_step_${k}`, inputs: { labels_R: 'labels_R', ...(k > 0 ? { next_BlC: 'next_BlC' } : {}), ...kvIn }, outputs: { hidden_RlD: 'hidden_RlD', cond_RD: 'cond_RD', ...kvOut } },
        { graph: `head_${k}`, inputs: { hidden_RlD: 'hidden_RlD', cond_RD: 'cond_RD' }, outputs: { logits_RlV: 'logits_RlV' } },
        { sample: 'categorical', logits: 'logits_RlV', into: 'idx_Bl', guidance: ho.cfg, temperature: ho.temperature, topK: ho.topK ?? null, topP: ho.topP ?? null },
        { graph: `quantizer_next_${k}`, inputs: { fHat_BChw: 'fHat_BChw', idx_Bl: 'idx_Bl' }, outputs: last ? { fHatNext_BChw: 'fHat_BChw' } : { fHatNext_BChw: 'fHat_BChw', next_BlC: 'next_BlC' } },
      ],
    });
    start += k === 0 ? m.firstL : l;
  }
  writer.graph('tokenizer_decoder', 'tokenizer decoder: f̂ → image in [−1, 1]', [{ name: 'fHat_BChw', shape: [B, C, P, P], dtype: 'float32' }], ['images_BCHW'], (fHat) => [ms.decodeFeatures(fHat)]);
  return {
    state: {
      labels_R: { shape: [R], dtype: 'int32', init: 'labels' },
      fHat_BChw: { shape: [B, C, P, P], dtype: 'float32', init: 'zeros' },
    },
    steps,
    finish: [{ graph: 'tokenizer_decoder', inputs: { fHat_BChw: 'fHat_BChw' }, outputs: { images_BCHW: 'images_BCHW' } }],
    details: {
      patchNums: pns,
      vocab: V,
      kvCache: {
        layout: '[R, heads, positions, headDim] per block, keys and values; step k reads the cache of scales < k and writes it grown by its own positions',
        blocks: depth, heads: H, headDim: dh,
      },
      tokensPerStep: 'the `idx_Bl` slot after each step holds that scale\'s token indices (B, pn²), row-major',
      rows: o.guided ? 'R = 2B: conditional rows, then null-class rows' : 'R = B',
    },
  };
}
