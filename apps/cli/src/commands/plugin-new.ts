/**
 * `tessera plugin new <kind> <name> [--dir <path>]`: writes a third-party plugin package
 * `tessera-plugin-<kind>-<name>` (npm's naming for Tessera plugins, STYLE.md) that
 * installs, builds and passes its tests as generated: package.json with the `tessera`
 * field and keyword, `@tessera/core` as a peer dependency with the range this core
 * implements, a tsconfig, `src/` with a small working implementation of the kind built on
 * `definePlugin`, a conformance test of `@tessera/core/testing`, a README and a .gitignore.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PLUGIN_KINDS, PluginKind, TesseraError, writeFileAtomic } from '@tessera/core';
import { backboneFiles, BACKBONE_SUMMARY } from '../templates/backbone';
import { fill, GITIGNORE, packageJson, readme, TemplateVars, TSCONFIG } from '../templates/common';
import { directionFiles, DIRECTION_SUMMARY } from '../templates/direction';
import { headFiles, HEAD_SUMMARY } from '../templates/head';
import { tokenizerFiles, TOKENIZER_SUMMARY } from '../templates/tokenizer';

const KINDS: Record<PluginKind, { files(v: TemplateVars): Record<string, string>; summary: { what: string; config: string } }> = {
  tokenizer: { files: tokenizerFiles, summary: TOKENIZER_SUMMARY },
  direction: { files: directionFiles, summary: DIRECTION_SUMMARY },
  head: { files: headFiles, summary: HEAD_SUMMARY },
  backbone: { files: backboneFiles, summary: BACKBONE_SUMMARY },
};

export interface PluginNewFlags {
  dir?: string;
}

export interface PluginNewResult {
  dir: string;
  packageName: string;
  files: string[];
}

const pascal = (name: string): string => name.split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');

/** The relative path → content of every file of the package (nothing is written). */
export function pluginPackageFiles(kind: PluginKind, name: string): { vars: TemplateVars; files: Record<string, string> } {
  const Name = pascal(name);
  const vars: TemplateVars = { kind, name, packageName: `tessera-plugin-${kind}-${name}`, Name, camel: Name.charAt(0).toLowerCase() + Name.slice(1) };
  const { files, summary } = KINDS[kind];
  return {
    vars,
    files: {
      'package.json': packageJson(vars, `Tessera ${kind} plugin \`${name}\`: ${summary.what}`),
      'tsconfig.json': TSCONFIG,
      '.gitignore': GITIGNORE,
      'README.md': readme(vars, summary.what, fill(summary.config, vars)),
      ...files(vars),
    },
  };
}

export function pluginNew(kind: string, name: string, flags: PluginNewFlags): PluginNewResult {
  if (!(PLUGIN_KINDS as readonly string[]).includes(kind)) {
    throw new TesseraError('USAGE', `unknown plugin kind \`${kind}\`; use one of ${PLUGIN_KINDS.map((k) => `\`${k}\``).join(', ')}`, { data: { kind } });
  }
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(name)) {
    throw new TesseraError('USAGE', `plugin name \`${name}\` must be lower-case kebab case (letters, digits and single dashes, starting with a letter), e.g. \`gmm\` or \`my-head\``, { data: { name } });
  }
  const { vars, files } = pluginPackageFiles(kind as PluginKind, name);
  const dir = path.resolve(flags.dir ?? '.', vars.packageName);
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
    throw new TesseraError('USAGE', `\`${dir}\` already exists and is not empty; remove it or choose another --dir`, { data: { dir } });
  }
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomic(file, content);
  }
  return { dir, packageName: vars.packageName, files: Object.keys(files) };
}

export function formatPluginNew(r: PluginNewResult): string {
  return [
    `wrote ${r.packageName} to ${r.dir}:`,
    ...r.files.map((f) => `  ${f}`),
    '',
    'next:',
    `  cd ${r.dir}`,
    '  npm install',
    '  npm test        # builds and runs the conformance suite',
    '  npm publish',
  ].join('\n');
}
