#!/usr/bin/env node
// Committed launcher so npm can link the `tessera` binary before the TypeScript build has run.
'use strict';
try {
  require('../dist/bin.js');
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes('dist/bin.js')) {
    process.stderr.write('USAGE: the tessera CLI is not built yet; run `npm run build` at the repository root first\n');
    process.exit(2);
  }
  throw e;
}
