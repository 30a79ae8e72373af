/** Fixture cases of other kinds whose recorded intermediates pin pieces of this head. */
import { findManifests, loadParityCase, ParityCase, readManifest } from '@tessera/core';
import { FIXTURES } from '../paths';

/** Every case of `kind` under the shared fixtures (read from the manifests, nothing hard-coded). */
export function casesOfKind(kind: string): ParityCase[] {
  return findManifests([FIXTURES])
    .map((file) => {
      try {
        return { file, manifest: readManifest(file) };
      } catch {
        return undefined;
      }
    })
    .filter((m): m is NonNullable<typeof m> => m !== undefined && m.manifest.kind === kind)
    .map(({ file, manifest }) => loadParityCase(file, manifest));
}

/** |got − want| ≤ atol + rtol·|want| everywhere; returns the first offending index or −1. */
export function firstOutOfTolerance(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number): number {
  for (let i = 0; i < want.length; i++) if (!(Math.abs(got[i] - want[i]) <= atol + rtol * Math.abs(want[i]))) return i;
  return -1;
}
