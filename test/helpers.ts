/** Assertions shared by the test files. */
import { expect } from 'chai';
import { isTesseraError, TesseraError } from '@tessera/core';

/** Runs `fn`, expects a TesseraError with `code`, and returns it so tests can check its `data`. */
export function expectCode(fn: () => unknown, code: string): TesseraError {
  try {
    fn();
  } catch (e) {
    expect(isTesseraError(e), String(e)).to.equal(true);
    expect((e as TesseraError).code, (e as Error).message).to.equal(code);
    return e as TesseraError;
  }
  return expect.fail(`expected a TesseraError ${code}, but nothing was thrown`);
}
