/**
 * The example plugin `examples/tessera-plugin-head-gmm`, built with its own tsconfig
 * (incremental: a no-op when up to date) and loaded like an installed package.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import type { TesseraPlugin } from '@tessera/core';
import { REPO } from '../../paths';

export const GMM_DIR = path.join(REPO, 'examples', 'tessera-plugin-head-gmm');

let built = false;

export function loadGmm(): TesseraPlugin {
  if (!built) execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', GMM_DIR], { stdio: 'inherit' });
  built = true;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(GMM_DIR) as { default: TesseraPlugin }).default;
}
