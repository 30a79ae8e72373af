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
import { isHostTensor, readTorchCheckpoint } from '../checkpoint/torch';

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
 * The case's `param.*` tensors must be in its `.pth` with the same shapes and values.
 * Released files wrap several state dicts (`model`, `model_ema`): the parameters must equal
 * one of them exactly. Two-model cases also carry another model's tensors (`param.vae.*`
 * beside a transformer's `.pth`): a group of parameters under a first key segment that the
 * state dict has no key of belongs to another model and is not looked for.
 */
function checkCheckpoint(c: { file: string; manifest: Manifest; tensors: ReadonlyMap<string, HostTensor> }): Comparison {
  const pth = path.resolve(path.dirname(c.file), c.manifest.checkpoint as string);
  const params = [...c.tensors].filter(([k]) => k.startsWith('param.')).map(([k, t]) => [k.slice(6), t] as const);
  const group = (k: string): string => k.split('.')[0];
  let best: { maxAbs: number; detail?: string } = { maxAbs: Infinity, detail: `no state dict in ${path.basename(pth)} holds the case's parameters` };
  for (const stateDict of stateDictsWithAny(readTorchCheckpoint(pth), params.map(([k]) => k))) {
    const groupsPresent = new Set([...stateDict.keys()].map((k) => group(String(k))));
    let maxAbs = 0;
    let detail: string | undefined;
    for (const [key, t] of params) {
      const got = stateDict.get(key);
      if (!got) {
        if (!groupsPresent.has(group(key))) continue; // another model's tensor
        maxAbs = Infinity; detail = `\`${key}\` missing in ${path.basename(pth)}`; break;
      }
      if (!sameShape(got.shape, t.shape)) { maxAbs = Infinity; detail = `\`${key}\` has shape [${got.shape}] in ${path.basename(pth)}`; break; }
      const a = toFloat32(got), b = toFloat32(t);
      for (let i = 0; i < a.length; i++) maxAbs = Math.max(maxAbs, sameValue(a[i], b[i]) ? 0 : Math.abs(a[i] - b[i]) || Infinity);
    }
    if (maxAbs < best.maxAbs || best.maxAbs === Infinity) best = { maxAbs, detail: detail ?? (maxAbs ? `values differ from every state dict in ${path.basename(pth)}` : undefined) };
  }
  return { name: 'checkpoint', ok: best.maxAbs === 0, maxAbsError: best.maxAbs, exact: true, detail: best.detail };
}

/** Equal, including equal infinities (attention-mask buffers) and NaN with NaN. */
const sameValue = (x: number, y: number): boolean => x === y || (Number.isNaN(x) && Number.isNaN(y));

/** Every dict of tensors inside a checkpoint tree holding at least one of `keys` (the top level or wrappers such as `model`, `model_ema`). */
export function stateDictsWithAny(tree: unknown, keys: string[]): Map<string, HostTensor>[] {
  const asMap = (v: unknown): Map<unknown, unknown> | undefined =>
    v instanceof Map ? v : v && typeof v === 'object' && !ArrayBuffer.isView(v) && !Array.isArray(v) && !isHostTensor(v) ? new Map(Object.entries(v as object)) : undefined;
  const found: Map<string, HostTensor>[] = [];
  const queue: unknown[] = [tree];
  while (queue.length) {
    const m = asMap(queue.shift());
    if (!m) continue;
    if (keys.some((k) => m.has(k) && isHostTensor(m.get(k)))) found.push(m as Map<string, HostTensor>);
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
