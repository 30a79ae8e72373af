/**
 * Finding installed plugins without importing them: every package in the node_modules
 * folders above the search paths whose package.json has a `tessera` field
 * (`{ "kind": ..., "name": ... }`) or the `tessera-plugin` keyword.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

export interface DiscoveredPlugin {
  packageName: string;
  version: string;
  kind?: string;
  name?: string;
  dir: string;
}

function nodeModulesAbove(start: string): string[] {
  const out: string[] = [];
  let dir = path.resolve(start);
  for (;;) {
    const nm = path.join(dir, 'node_modules');
    if (existsSync(nm)) out.push(nm);
    const up = path.dirname(dir);
    if (up === dir) return out;
    dir = up;
  }
}

function readPackage(dir: string): DiscoveredPlugin | undefined {
  try {
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string; keywords?: string[]; tessera?: { kind?: string; name?: string } };
    if (!pkg.name || (!pkg.tessera && !pkg.keywords?.includes('tessera-plugin'))) return undefined;
    return { packageName: pkg.name, version: pkg.version ?? '0.0.0', kind: pkg.tessera?.kind, name: pkg.tessera?.name, dir };
  } catch {
    return undefined;
  }
}

export function discoverPlugins(searchPaths: string[]): DiscoveredPlugin[] {
  const seen = new Map<string, DiscoveredPlugin>();
  for (const nm of searchPaths.flatMap(nodeModulesAbove)) {
    for (const entry of readdirSync(nm)) {
      const dirs = entry.startsWith('@') ? readdirSync(path.join(nm, entry)).map((e) => path.join(nm, entry, e)) : [path.join(nm, entry)];
      for (const dir of dirs) {
        const found = readPackage(dir);
        if (found && !seen.has(found.packageName)) seen.set(found.packageName, found);
      }
    }
  }
  return [...seen.values()].sort((a, b) => a.packageName.localeCompare(b.packageName));
}
