/**
 * The parity runner behind `tessera parity`: finds every manifest under the given
 * folders, dispatches each by `kind` to a registered handler, checks that the case's
 * official-format checkpoint (if any) imports to exactly its `param.*` tensors, and
 * compares outputs with the manifest's tolerances. A case whose kind has no handler is
 * `unsupported`, which fails the run like a mismatch does.
 */
import { readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { Engine } from '../engine/engine';
import { TesseraError } from '../errors';
import { HostTensor, sameShape, toFloat32 } from '../tensor/host';
import { loadParityCase, readManifest } from './case';
import { compareTensor, Comparison } from './compare';
import type { Manifest, ParityHandler } from './types';
import { readTorchCheckpoint } from '../checkpoint/torch';

export type CaseStatus = 'pass' | 'fail' | 'unsupported' | 'error';

export interface CaseResult {
  case: string;
  kind: string;
  engine: string;
  file: string;
  status: CaseStatus;
  maxAbsError: number;
  comparisons: Comparison[];
  message?: string;
  seconds: number;
}

export interface ParityRunOptions {
  dirs: string[];
  engines: { name: string; create(): Promise<Engine> }[];
  handlers: ReadonlyMap<string, ParityHandler>;
  /** Glob patterns over kinds (`var.interp.*`); empty = all. */
  kinds?: string[];
  onResult?(r: CaseResult): void;
}

export function findManifests(dirs: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      throw new TesseraError('FILE_NOT_FOUND', `\`${p}\` does not exist`, { subject: p, cause: e });
    }
    if (st.isDirectory()) for (const name of readdirSync(p).sort()) walk(path.join(p, name));
    else if (p.endsWith('.json')) out.push(p);
  };
  dirs.forEach(walk);
  return out;
}

export function kindMatcher(globs: string[] | undefined): (kind: string) => boolean {
  if (!globs || globs.length === 0) return () => true;
  const res = globs.map((g) => new RegExp(`^${g.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`));
  return (kind) => res.some((r) => r.test(kind));
}

/**
 * Every `param.*` tensor of the case must be in the case's `.pth` with the same shape and
 * values. Released files wrap several state dicts (`model`, `model_ema`); the case's
 * parameters must equal one of them exactly.
 */
function checkCheckpoint(c: { file: string; manifest: Manifest; tensors: ReadonlyMap<string, HostTensor> }): Comparison {
  const pth = path.resolve(path.dirname(c.file), c.manifest.checkpoint as string);
  const params = [...c.tensors].filter(([k]) => k.startsWith('param.')).map(([k, t]) => [k.slice(6), t] as const);
  const candidates = stateDictsWith(readTorchCheckpoint(pth), params.map(([k]) => k));
  if (candidates.length === 0) {
    return { name: 'checkpoint', ok: false, maxAbsError: Infinity, exact: true, detail: `no state dict in ${path.basename(pth)} holds all ${params.length} parameters of the case` };
  }
  let best = Infinity;
  for (const stateDict of candidates) {
    let maxAbs = 0;
    for (const [key, t] of params) {
      const got = stateDict.get(key) as HostTensor;
      if (!sameShape(got.shape, t.shape)) { maxAbs = Infinity; break; }
      const a = toFloat32(got), b = toFloat32(t);
      for (let i = 0; i < a.length; i++) maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
    }
    best = Math.min(best, maxAbs);
  }
  return { name: 'checkpoint', ok: best === 0, maxAbsError: best, exact: true, detail: best ? `values differ from every state dict in ${path.basename(pth)}` : undefined };
}

/** Every dict inside a checkpoint tree that holds all the given keys (the top level or wrappers such as `model`, `model_ema`). */
export function stateDictsWith(tree: unknown, keys: string[]): Map<string, HostTensor>[] {
  const asMap = (v: unknown): Map<unknown, unknown> | undefined =>
    v instanceof Map ? v : v && typeof v === 'object' && !ArrayBuffer.isView(v) && !('data' in (v as object)) ? new Map(Object.entries(v as object)) : undefined;
  const found: Map<string, HostTensor>[] = [];
  const queue: unknown[] = [tree];
  while (queue.length) {
    const m = asMap(queue.shift());
    if (!m) continue;
    if (keys.every((k) => m.has(k))) found.push(m as Map<string, HostTensor>);
    else for (const v of m.values()) queue.push(v);
  }
  return found;
}

export async function runParity(options: ParityRunOptions): Promise<CaseResult[]> {
  const match = kindMatcher(options.kinds);
  const results: CaseResult[] = [];
  const files = findManifests(options.dirs);
  for (const eng of options.engines) {
    const engine = await eng.create();
    for (const file of files) {
      const t0 = process.hrtime.bigint();
      let manifest: Manifest;
      try {
        manifest = readManifest(file);
      } catch {
        continue; // not a manifest (any other JSON in the folder)
      }
      if (!match(manifest.kind)) continue;
      const result: CaseResult = { case: manifest.case, kind: manifest.kind, engine: eng.name, file, status: 'pass', maxAbsError: 0, comparisons: [], seconds: 0 };
      const handler = options.handlers.get(manifest.kind);
      if (!handler) {
        result.status = 'unsupported';
        result.message = `no handler for kind \`${manifest.kind}\``;
      } else {
        try {
          await runCase(file, manifest, handler, engine, result);
        } catch (e) {
          result.status = 'error';
          result.message = e instanceof TesseraError ? `${e.code}: ${e.message}` : (e as Error).stack ?? String(e);
        }
      }
      result.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      results.push(result);
      options.onResult?.(result);
    }
  }
  return results;
}

async function runCase(file: string, manifest: Manifest, handler: ParityHandler, engine: Engine, result: CaseResult): Promise<void> {
  const c = loadParityCase(file, manifest);
  if (manifest.checkpoint) result.comparisons.push(checkCheckpoint(c));
  const before = engine.liveTensors();
  const produced = await handler.run(c, engine);
  const leaked = engine.liveTensors() - before;
  const expected: [string, string][] = Object.entries(manifest.outputs);
  // Traces are compared when the handler produced them: they locate a mismatch.
  for (const key of produced.keys()) {
    if (key.startsWith('trace.') && c.tensors.has(key) && !expected.some(([, t]) => t === key)) expected.push([key, key]);
  }
  for (const [name, tensorName] of expected) {
    const want = c.tensors.get(tensorName);
    if (!want) throw new TesseraError('MANIFEST_INVALID', `\`${file}\`: output tensor \`${tensorName}\` is missing`, { subject: file });
    result.comparisons.push(compareTensor(name, tensorName, produced.get(name), want, manifest.tolerance));
  }
  if (leaked > 0) result.comparisons.push({ name: 'leak', ok: false, maxAbsError: 0, exact: true, detail: `${leaked} tensors left alive by the handler` });
  result.maxAbsError = Math.max(0, ...result.comparisons.filter((x) => x.name !== 'checkpoint' && x.name !== 'leak').map((x) => x.maxAbsError));
  const bad = result.comparisons.filter((x) => !x.ok);
  if (bad.length) {
    result.status = 'fail';
    result.message = bad.map((x) => `${x.name}: ${x.detail ?? `max abs error ${x.maxAbsError}`}`).join('; ');
  }
}

export function summarize(results: CaseResult[]): { passed: number; failed: number; line: string } {
  const passed = results.filter((r) => r.status === 'pass').length;
  const failed = results.length - passed;
  return { passed, failed, line: `${passed} passed, ${failed} failed` };
}
