/** Runs handlers over the shared fixtures on tfjs and expects every case of the kinds to pass. */
import { expect } from 'chai';
import { CaseResult, ParityHandler, runParity, TfjsEngine } from '@tessera/core';
import { FIXTURES } from './paths';

export async function expectParityPasses(handlers: readonly ParityHandler[], kinds: string[]): Promise<CaseResult[]> {
  const results = await runParity({
    dirs: [FIXTURES],
    engines: [{ name: 'tfjs', create: () => TfjsEngine.create() }],
    handlers: new Map(handlers.map((h) => [h.kind, h])),
    kinds,
  });
  expect(new Set(results.map((r) => r.kind))).to.have.property('size', kinds.length);
  const failed = results.filter((r) => r.status !== 'pass').map((r) => `${r.case}: ${r.status} ${r.message ?? ''}`);
  expect(failed).to.deep.equal([]);
  return results;
}
