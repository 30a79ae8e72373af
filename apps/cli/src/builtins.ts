/**
 * What the CLI knows of plugins: the built-in packages (loaded through the same host
 * path as any third-party package), the backbones built into core, and the parity
 * handlers all of them contribute.
 */
import * as core from '@tessera/core';
import { discoverPlugins, PLUGIN_KINDS, PluginHost, TesseraPlugin, ParityHandler, PluginKind, TesseraError } from '@tessera/core';

export const BUILTIN_PACKAGES: readonly { kind: PluginKind; name: string }[] = [
  { kind: 'tokenizer', name: 'vae' },
  { kind: 'tokenizer', name: 'msvq' },
  { kind: 'direction', name: 'raster' },
  { kind: 'direction', name: 'masked' },
  { kind: 'direction', name: 'scale' },
  { kind: 'direction', name: 'frequency' },
  { kind: 'head', name: 'categorical' },
  { kind: 'head', name: 'diffusion' },
];

/** Backbone plugins exported by core (`adalnBackbone`, `maeBackbone`, ...). */
export function builtinBackbones(): TesseraPlugin[] {
  return Object.values(core as Record<string, unknown>).filter(
    (v): v is TesseraPlugin => !!v && typeof v === 'object' && (v as TesseraPlugin).kind === 'backbone' && typeof (v as TesseraPlugin).register === 'function',
  );
}

export function createHost(searchPaths: string[] = [process.cwd()]): PluginHost {
  // The CLI's own folder comes last so its bundled built-ins resolve from anywhere.
  return new PluginHost({ searchPaths: [...searchPaths, __dirname], builtins: builtinBackbones() });
}

export interface PluginListing {
  kind: PluginKind;
  name: string;
  packageName: string;
  plugin?: TesseraPlugin;
  error?: TesseraError;
}

function tryLoad(host: PluginHost, kind: PluginKind, name: string, packageName: string): PluginListing {
  try {
    const loaded = host.load(kind, packageName);
    return { kind, name, packageName: loaded.packageName, plugin: loaded.plugin };
  } catch (e) {
    return { kind, name, packageName, error: e instanceof TesseraError ? e : new TesseraError('PLUGIN_INVALID', String(e), { cause: e }) };
  }
}

/** Loads every built-in; one that fails to load is listed with its error, not fatal. */
export function listBuiltins(host: PluginHost): PluginListing[] {
  const out: PluginListing[] = builtinBackbones().map((plugin) => ({ kind: plugin.kind, name: plugin.name, packageName: '@tessera/core', plugin }));
  for (const { kind, name } of BUILTIN_PACKAGES) out.push(tryLoad(host, kind, name, `@tessera/${kind}-${name}`));
  return out;
}

/**
 * Built-ins, then third-party packages found by their package.json (`tessera` field or
 * `tessera-plugin` keyword). Third-party code is imported only with `check`.
 */
export function listPlugins(host: PluginHost, searchPaths: string[], check: boolean): PluginListing[] {
  const out = listBuiltins(host);
  const builtinPackages = new Set(out.map((l) => l.packageName));
  for (const d of discoverPlugins(searchPaths)) {
    if (builtinPackages.has(d.packageName)) continue;
    const kind = (PLUGIN_KINDS as readonly string[]).includes(d.kind ?? '') ? (d.kind as PluginKind) : undefined;
    if (!kind) {
      out.push({ kind: 'head', name: d.name ?? d.packageName, packageName: d.packageName, error: new TesseraError('PLUGIN_INVALID', `\`${d.packageName}\`: package.json field \`tessera.kind\` is ${JSON.stringify(d.kind)}; expected one of ${PLUGIN_KINDS.join(', ')}`) });
      continue;
    }
    out.push(check ? tryLoad(host, kind, d.name ?? d.packageName, d.packageName) : { kind, name: d.name ?? d.packageName, packageName: d.packageName });
  }
  return out;
}

/** Handlers by kind: core's own, then every loadable plugin's. */
export function parityHandlers(host: PluginHost): Map<string, ParityHandler> {
  const handlers = new Map<string, ParityHandler>();
  for (const h of core.coreParityHandlers) handlers.set(h.kind, h);
  for (const entry of listBuiltins(host)) for (const h of entry.plugin?.parity ?? []) handlers.set(h.kind, h);
  return handlers;
}
