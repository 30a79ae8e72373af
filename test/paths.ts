/** Where tests find the repository and the shared fixtures, from build/test/... */
import * as path from 'node:path';

/** The repository root (tests run from build/test). */
export const REPO = path.resolve(__dirname, '..', '..');
/** `../shared/fixtures` beside the repository, as in CI. */
export const FIXTURES = path.resolve(REPO, '..', 'shared', 'fixtures');
/** The CLI launcher. */
export const CLI = path.join(REPO, 'apps', 'cli', 'bin', 'tessera.js');
