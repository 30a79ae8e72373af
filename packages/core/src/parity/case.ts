/** Loading a fixture manifest and its tensors into a `ParityCase`. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { TesseraError } from '../errors';
import { readSafetensorsFile } from '../checkpoint/safetensors';
import type { HostTensor } from '../tensor/host';
import { ReplayDraws } from '../rng/draws';
import type { Manifest, ParityCase } from './types';

const manifestSchema = z.object({
  case: z.string(),
  kind: z.string(),
  config: z.record(z.unknown()).default({}),
  tensors: z.string(),
  checkpoint: z.string().nullable().default(null),
  inputs: z.record(z.string()).default({}),
  outputs: z.record(z.string()),
  draws: z.array(z.string()).default([]),
  tolerance: z.object({
    atol: z.number(),
    rtol: z.number(),
    exact: z.array(z.string()).default([]),
    per_output: z.record(z.object({ atol: z.number().optional(), rtol: z.number().optional() })).optional(),
  }),
}).passthrough();

/** Reads a manifest; `kind` and `case` are validated, the rest is checked when loaded. */
export function readManifest(file: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TesseraError('MANIFEST_INVALID', `\`${file}\` is not readable JSON: ${(e as Error).message}`, { subject: file, cause: e });
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TesseraError('MANIFEST_INVALID', `\`${file}\` at \`${issue.path.join('.')}\`: ${issue.message}`, { subject: file, data: { path: issue.path } });
  }
  return parsed.data as Manifest;
}

export function loadParityCase(file: string, manifest: Manifest = readManifest(file)): ParityCase {
  const tensorsFile = path.resolve(path.dirname(file), manifest.tensors);
  const { tensors } = readSafetensorsFile(tensorsFile);
  const need = (name: string, what: string): HostTensor => {
    const t = tensors.get(name);
    if (!t) throw new TesseraError('MANIFEST_INVALID', `\`${file}\`: ${what} tensor \`${name}\` is not in \`${manifest.tensors}\``, { subject: file, data: { tensor: name } });
    return t;
  };
  return {
    manifest,
    file,
    tensors,
    input(name) {
      const tensorName = manifest.inputs[name];
      if (!tensorName) throw new TesseraError('MANIFEST_INVALID', `\`${file}\`: no input \`${name}\` (inputs: ${Object.keys(manifest.inputs).join(', ') || 'none'})`, { subject: file });
      return need(tensorName, 'input');
    },
    hasInput: (name) => name in manifest.inputs,
    params(subPrefix = '') {
      const prefix = `param.${subPrefix}`;
      const out = new Map<string, HostTensor>();
      for (const [k, t] of tensors) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), t);
      return out;
    },
    draws() {
      return new ReplayDraws(manifest.draws.map((name) => ({ name, tensor: need(name, 'draw') })), manifest.case);
    },
    config<T>(key: string): T {
      let v: unknown = manifest.config;
      for (const part of key.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
      if (v === undefined) throw new TesseraError('MANIFEST_INVALID', `\`${file}\`: config has no \`${key}\``, { subject: file, data: { key } });
      return v as T;
    },
  };
}
